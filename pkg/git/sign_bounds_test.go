package git

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"runtime"
	"strings"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	"github.com/ProtonMail/go-crypto/openpgp/s2k"
)

const testPassphrase = "s3cret"

// argon2Key makes an Ed25519 key of keys keys (at least 2: the primary key
// and its encryption subkey, then signing subkeys), protected with an Argon2
// S2K of the given passes and memory (KiB), armored.
func argon2Key(t *testing.T, passes uint8, memoryKiB uint32, keys int) []byte {
	t.Helper()
	cfg := &packet.Config{
		Algorithm:  packet.PubKeyAlgoEd25519,
		AEADConfig: &packet.AEADConfig{},
		S2KConfig: &s2k.Config{S2KMode: s2k.Argon2S2K, Argon2Config: &s2k.Argon2Config{
			NumberOfPasses: passes, DegreeOfParallelism: 1, Memory: memoryKiB}},
	}
	e, err := openpgp.NewEntity("Mirror Bot", "", "mirror@example.com", cfg)
	if err != nil {
		t.Fatal(err)
	}
	for range keys - 2 {
		if err := e.AddSigningSubkey(cfg); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.EncryptPrivateKeys([]byte(testPassphrase), cfg); err != nil {
		t.Fatal(err)
	}
	return armorEntity(t, e)
}

func armorEntity(t *testing.T, e *openpgp.Entity) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := armor.Encode(&buf, openpgp.PrivateKeyType, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.SerializePrivateWithoutSigning(w, nil); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// rewritePackets re-armors the packets of an armored key, each changed by f.
func rewritePackets(t *testing.T, armored []byte, f func(op *packet.OpaquePacket)) []byte {
	t.Helper()
	block, err := armor.Decode(bytes.NewReader(armored))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	w, err := armor.Encode(&buf, openpgp.PrivateKeyType, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := packet.NewOpaqueReader(block.Body)
	for {
		op, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		f(op)
		if err := op.Serialize(w); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// withArgon2 rewrites the Argon2 parameters of every protected key of an
// armored key in place (what a hostile tenant writes in its Secret; nothing
// authenticates them before the passphrase is stretched).
func withArgon2(t *testing.T, armored []byte, passes, memExp uint8) []byte {
	t.Helper()
	patched := 0
	out := rewritePackets(t, armored, func(op *packet.OpaquePacket) {
		if op.Tag != 5 && op.Tag != 7 {
			return
		}
		p, err := op.Parse()
		if err != nil {
			t.Fatal(err)
		}
		spec, err := s2kSpecifier(p.(*packet.PrivateKey))
		if err != nil || spec[0] != s2kArgon2 {
			t.Fatalf("no Argon2 S2K: %v", err)
		}
		i := bytes.Index(op.Contents, spec[:20]) // type and salt: unique
		if i < 0 {
			t.Fatal("S2K specifier not found in the packet")
		}
		op.Contents[i+17], op.Contents[i+19] = passes, memExp
		patched++
	})
	if patched == 0 {
		t.Fatal("no protected key")
	}
	return out
}

// parseAllocs is ParseOpenPGPKey with the bytes it allocated.
func parseAllocs(armored []byte, passphrase string) (*OpenPGPKey, error, uint64) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	k, err := ParseOpenPGPKey(armored, []byte(passphrase))
	runtime.ReadMemStats(&after)
	return k, err, after.TotalAlloc - before.TotalAlloc
}

// TestOpenPGPArgon2Bounds: a protected key whose Argon2 S2K asks for more
// than MaxArgon2MemoryKiB or MaxArgon2Passes is refused before the passphrase
// is stretched, with an error saying which bound, allocating next to nothing
// (2^31 KiB is what go-crypto would otherwise allocate); at the bounds the key
// is read and signs.
func TestOpenPGPArgon2Bounds(t *testing.T) {
	cheap := argon2Key(t, 1, 64, 2)
	if k, err := ParseOpenPGPKey(cheap, []byte(testPassphrase)); err != nil || k == nil {
		t.Fatalf("a cheap Argon2 key: %v", err)
	}
	// The modest cases first: without the bound, they allocate (and fail
	// here) before the case of 2 TiB is reached.
	for _, tc := range []struct {
		name           string
		passes, memExp uint8
		want           string
	}{
		{"128 MiB", 1, 17, "Argon2 using 2^17 KiB of memory, over the 64 MiB accepted"},
		{"5 passes", 5, 6, "Argon2 in 5 passes, over the 4 accepted"},
		{"255 passes", 255, 6, "Argon2 in 255 passes"},
		{"2 TiB", 1, 31, "Argon2 using 2^31 KiB of memory"},
	} {
		_, err, allocated := parseAllocs(withArgon2(t, cheap, tc.passes, tc.memExp), testPassphrase)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Fatalf("%s: got %v, want an error containing %q", tc.name, err, tc.want)
		}
		if strings.Contains(err.Error(), testPassphrase) || strings.Contains(err.Error(), "PRIVATE KEY") {
			t.Fatalf("%s: the error shows secrets: %v", tc.name, err)
		}
		if allocated > 1<<20 {
			t.Fatalf("%s: refusing the key allocated %d bytes", tc.name, allocated)
		}
	}

	// At the bounds: 64 MiB, 4 passes.
	k, err := ParseOpenPGPKey(argon2Key(t, MaxArgon2Passes, MaxArgon2MemoryKiB, 2), []byte(testPassphrase))
	if err != nil {
		t.Fatalf("Argon2 at the bounds: %v", err)
	}
	if sig, err := k.Sign([]byte("payload")); err != nil || !strings.Contains(sig, "BEGIN PGP SIGNATURE") {
		t.Fatalf("signing with it: %v", err)
	}
}

// TestOpenPGPKeyShapeBounds: more than MaxKeyPackets keys, a modulus over
// MaxKeyBits, a packet a key export does not hold, or more than
// MaxArmoredKeySize bytes are refused before the key ring is parsed.
func TestOpenPGPKeyShapeBounds(t *testing.T) {
	if _, err := ParseOpenPGPKey(argon2Key(t, 1, 64, MaxKeyPackets), []byte(testPassphrase)); err != nil {
		t.Fatalf("%d keys: %v", MaxKeyPackets, err)
	}
	if _, err := ParseOpenPGPKey(argon2Key(t, 1, 64, MaxKeyPackets+1), []byte(testPassphrase)); err == nil ||
		err.Error() != "the OpenPGP key holds more than 8 keys (primary and subkeys)" {
		t.Fatalf("%d keys: %v", MaxKeyPackets+1, err)
	}

	// An RSA key packet of 9000 bits (v4, algorithm 1, MPI n, MPI e), then
	// junk where the secret part would be: refused on its public part.
	n := make([]byte, 9000/8)
	if _, err := rand.Read(n); err != nil {
		t.Fatal(err)
	}
	n[0] |= 0x80
	body := []byte{4, 0, 0, 0, 0, 1, byte(9000 >> 8), byte(9000 & 0xff)}
	body = append(body, n...)
	body = append(body, 0, 17, 1, 0, 1, 0, 0xde, 0xad)
	var buf bytes.Buffer
	w, err := armor.Encode(&buf, openpgp.PrivateKeyType, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := (&packet.OpaquePacket{Tag: 5, Contents: body}).Serialize(w); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := ParseOpenPGPKey(buf.Bytes(), nil); err == nil || err.Error() != "the OpenPGP key has a 9000-bit key, over the 8192 bits accepted" {
		t.Fatalf("9000-bit RSA: %v", err)
	}

	// A compressed packet (a zip bomb would be one) after the key.
	cheap := argon2Key(t, 1, 64, 2)
	withCompressed := rewritePackets(t, cheap, func(op *packet.OpaquePacket) {
		if op.Tag == 13 {
			op.Tag = 8
		}
	})
	if _, err := ParseOpenPGPKey(withCompressed, []byte(testPassphrase)); err == nil || !strings.Contains(err.Error(), "packet of type 8") {
		t.Fatalf("compressed packet: %v", err)
	}

	big := append(bytes.Repeat([]byte("#"), MaxArmoredKeySize), cheap...)
	if _, err := ParseOpenPGPKey(big, []byte(testPassphrase)); err == nil || !strings.Contains(err.Error(), "over the 65536 accepted") {
		t.Fatalf("oversized: %v", err)
	}
}
