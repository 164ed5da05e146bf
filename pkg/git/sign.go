package git

import (
	"bytes"
	"crypto/dsa" //nolint:staticcheck // OpenPGP DSA keys are read to bound them, never made.
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// OpenPGPKey is an OpenPGP signing key, read from an armored private key.
type OpenPGPKey struct {
	entity *openpgp.Entity
	// Fingerprint is the primary key's fingerprint (upper-case hex).
	Fingerprint string
	// PublicKey is the armored public key, to import where commits are
	// verified (git verify-commit with gpg).
	PublicKey string
}

// Bounds on the keys ParseOpenPGPKey reads. A key comes from a Secret a
// tenant writes, and every sync of every target of the provider needs it: the
// work of reading one is bounded before any of it is done, whatever the key
// says about itself.
const (
	// MaxArmoredKeySize bounds the armored key (64 KiB). An RSA-4096 key with
	// subkeys is under 10 KiB; the bound also bounds the signatures checked
	// while reading it.
	MaxArmoredKeySize = 64 << 10
	// MaxKeyPackets bounds the keys (primary and subkeys) in the armored
	// text: each protected one has its passphrase stretched on its own.
	MaxKeyPackets = 8
	// MaxKeyBits bounds RSA, DSA and ElGamal moduli (gpg makes at most 4096
	// bits): the cost of a signature, and of checking one, grows with the
	// cube of the size. DSA subgroups are bounded to 256 bits (FIPS 186).
	MaxKeyBits  = 8192
	maxDSAQBits = 256
	// MaxArgon2MemoryKiB and MaxArgon2Passes bound an Argon2 S2K (RFC 9580),
	// which allocates its memory parameter (up to 2 TiB by the format) and
	// runs over it that many times: 64 MiB and 4 passes take RFC 9580's
	// second recommended setting (and go-crypto's default).
	MaxArgon2MemoryKiB = 64 << 10
	MaxArgon2Passes    = 4
	// MaxIteratedCount bounds the bytes an iterated and salted S2K hashes:
	// 65,011,712 (count octet 255) is the most the format encodes, and gpg
	// calibrates the count to about 100 ms, which lands near it on current
	// machines, so nothing less can be refused. It needs no memory; with
	// MaxKeyPackets, reading a key hashes at most about half a gigabyte,
	// once per change of its Secret (pkg/lifecycle caches the outcome,
	// failures included).
	MaxIteratedCount = 65011712
)

// decryptSlot lets one key at a time have its passphrase stretched, so that
// the memory of Argon2 (MaxArgon2MemoryKiB) is taken once, not once per
// tenant whose key happens to be read at the same moment.
var decryptSlot = make(chan struct{}, 1)

// ParseOpenPGPKey reads an armored private key, decrypting it with
// passphrase when it is protected. Before any expensive work it refuses a key
// over the bounds above (size, number of keys, key sizes, S2K parameters),
// so a hostile key costs a bounded amount. Errors never contain key material.
func ParseOpenPGPKey(armored, passphrase []byte) (*OpenPGPKey, error) {
	if len(armored) > MaxArmoredKeySize {
		return nil, fmt.Errorf("the armored OpenPGP key is %d bytes, over the %d accepted", len(armored), MaxArmoredKeySize)
	}
	if err := precheckKey(armored); err != nil {
		return nil, err
	}
	ring, err := openpgp.ReadArmoredKeyRing(bytes.NewReader(armored))
	if err != nil {
		return nil, errors.New("not an armored OpenPGP private key")
	}
	if len(ring) != 1 {
		return nil, fmt.Errorf("want one OpenPGP key, found %d", len(ring))
	}
	e := ring[0]
	if e.PrivateKey == nil {
		return nil, errors.New("the OpenPGP key has no private part")
	}
	protected := false
	for _, pk := range secretKeys(e) {
		if !pk.Encrypted || pk.Dummy() {
			continue
		}
		protected = true
		if err := checkS2K(pk); err != nil {
			return nil, err
		}
	}
	if protected {
		if len(passphrase) == 0 {
			return nil, errors.New("the OpenPGP key is protected and no passphrase is given")
		}
		decryptSlot <- struct{}{}
		err := e.DecryptPrivateKeys(passphrase)
		<-decryptSlot
		if err != nil {
			return nil, errors.New("the passphrase does not decrypt the OpenPGP key")
		}
	}
	var pub bytes.Buffer
	w, err := armor.Encode(&pub, openpgp.PublicKeyType, nil)
	if err != nil {
		return nil, err
	}
	if err := e.Serialize(w); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return &OpenPGPKey{entity: e, Fingerprint: strings.ToUpper(fmt.Sprintf("%x", e.PrimaryKey.Fingerprint)), PublicKey: pub.String() + "\n"}, nil
}

// secretKeys are the keys of e with a private part.
func secretKeys(e *openpgp.Entity) []*packet.PrivateKey {
	out := []*packet.PrivateKey{e.PrivateKey}
	for _, s := range e.Subkeys {
		if s.PrivateKey != nil {
			out = append(out, s.PrivateKey)
		}
	}
	return out
}

// precheckKey reads the packets of the armored key without interpreting
// them (no signature is checked, no private part parsed) and refuses more
// than MaxKeyPackets keys, packets a key export does not hold, and keys over
// MaxKeyBits. Only then does the key ring parser check signatures made with
// those keys and (for an unprotected key) validate its private part.
func precheckKey(armored []byte) error {
	block, err := armor.Decode(bytes.NewReader(armored))
	if err != nil {
		return errors.New("not an armored OpenPGP private key")
	}
	r := packet.NewOpaqueReader(block.Body)
	keys := 0
	for {
		op, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return errors.New("not an armored OpenPGP private key")
		}
		switch op.Tag {
		case 5, 6, 7, 14: // secret key, public key, secret subkey, public subkey
			if keys++; keys > MaxKeyPackets {
				return fmt.Errorf("the OpenPGP key holds more than %d keys (primary and subkeys)", MaxKeyPackets)
			}
			// The public part leads every key packet: read it alone.
			p, err := (&packet.OpaquePacket{Tag: 6, Contents: op.Contents}).Parse()
			if pub, ok := p.(*packet.PublicKey); err == nil && ok {
				if err := checkKeySize(pub); err != nil {
					return err
				}
			}
		case 2, 10, 12, 13, 17, 21: // signature, marker, trust, user ID, user attribute, padding
		default:
			return fmt.Errorf("the OpenPGP key holds a packet of type %d, which a key does not", op.Tag)
		}
	}
	return nil
}

// checkKeySize refuses a key over MaxKeyBits (and a DSA key whose subgroup
// is over 256 bits).
func checkKeySize(pub *packet.PublicKey) error {
	bits, err := pub.BitLength()
	if err != nil {
		return nil // an algorithm the parser does not know; it decides
	}
	if bits > MaxKeyBits {
		return fmt.Errorf("the OpenPGP key has a %d-bit key, over the %d bits accepted", bits, MaxKeyBits)
	}
	if k, ok := pub.PublicKey.(*dsa.PublicKey); ok && k.Q != nil && k.Q.BitLen() > maxDSAQBits {
		return fmt.Errorf("the OpenPGP key has a DSA key with a %d-bit subgroup, over the %d bits accepted", k.Q.BitLen(), maxDSAQBits)
	}
	return nil
}

// S2K specifier types (RFC 9580, section 3.7.1).
const (
	s2kSimple   = 0
	s2kSalted   = 1
	s2kIterated = 3
	s2kArgon2   = 4
	s2kGNU      = 101
)

// checkS2K refuses a protected key whose S2K would cost more than the bounds
// to stretch a passphrase with. The parameters are read from the key as
// go-crypto parsed it (its own serialization), so they are exactly those
// DecryptPrivateKeys would use.
func checkS2K(pk *packet.PrivateKey) error {
	spec, err := s2kSpecifier(pk)
	if err != nil {
		return err
	}
	switch spec[0] {
	case s2kSimple, s2kSalted, s2kGNU:
		return nil
	case s2kIterated:
		// mode, hash, salt[8], count octet
		if len(spec) < 11 {
			return errors.New("the OpenPGP key has a truncated S2K")
		}
		c := int(spec[10])
		if count := (16 + c&15) << (c>>4 + 6); count > MaxIteratedCount {
			return fmt.Errorf("the OpenPGP key's S2K hashes %d bytes, over the %d accepted", count, MaxIteratedCount)
		}
		return nil
	case s2kArgon2:
		// mode, salt[16], passes, parallelism, memory exponent
		if len(spec) < 20 {
			return errors.New("the OpenPGP key has a truncated Argon2 S2K")
		}
		passes, memExp := spec[17], spec[19]
		if memExp > 30 || uint64(1)<<memExp > MaxArgon2MemoryKiB {
			return fmt.Errorf("the OpenPGP key is protected with Argon2 using 2^%d KiB of memory, over the %d MiB accepted: protect it with less (or with gpg's default S2K)", memExp, MaxArgon2MemoryKiB>>10)
		}
		if passes > MaxArgon2Passes {
			return fmt.Errorf("the OpenPGP key is protected with Argon2 in %d passes, over the %d accepted", passes, MaxArgon2Passes)
		}
		return nil
	default:
		return fmt.Errorf("the OpenPGP key is protected with an unsupported S2K (type %d)", spec[0])
	}
}

// s2kSpecifier returns the S2K specifier of a protected key (from its type
// octet on): the secret-key packet body is the public key body, the S2K usage
// octet, for v5 (and v6 when protected) a count of the optional fields, the
// cipher, with usage 253 the AEAD mode, for v6 the specifier's length, then
// the specifier (RFC 9580, section 5.5.3).
func s2kSpecifier(pk *packet.PrivateKey) ([]byte, error) {
	bad := errors.New("the OpenPGP key's protection cannot be read")
	var priv, pub bytes.Buffer
	if err := pk.Serialize(&priv); err != nil {
		return nil, bad
	}
	if err := pk.PublicKey.Serialize(&pub); err != nil {
		return nil, bad
	}
	privBody, pubBody := packetBody(priv.Bytes()), packetBody(pub.Bytes())
	if privBody == nil || pubBody == nil || !bytes.HasPrefix(privBody, pubBody) {
		return nil, bad
	}
	rest := privBody[len(pubBody):]
	take := func(n int) bool {
		if len(rest) < n {
			return false
		}
		rest = rest[n:]
		return true
	}
	if len(rest) == 0 {
		return nil, bad
	}
	usage := rest[0]
	ok := take(1)
	if pk.Version == 5 || (pk.Version == 6 && usage != 0) {
		ok = ok && take(1)
	}
	switch usage {
	case 253, 254, 255:
	default:
		return nil, bad // not protected by an S2K go-crypto decrypts
	}
	ok = ok && take(1) // cipher
	if usage == 253 {
		ok = ok && take(1) // AEAD mode
	}
	if pk.Version == 6 {
		ok = ok && take(1) // length of the specifier
	}
	if !ok || len(rest) == 0 {
		return nil, bad
	}
	return rest, nil
}

// packetBody returns the body of the one packet in b (nil if b is not one).
func packetBody(b []byte) []byte {
	op, err := packet.NewOpaqueReader(bytes.NewReader(b)).Next()
	if err != nil {
		return nil
	}
	return op.Contents
}

// Sign returns the armored detached signature of payload (Options.Sign).
func (k *OpenPGPKey) Sign(payload []byte) (string, error) {
	var sig bytes.Buffer
	if err := openpgp.ArmoredDetachSign(&sig, k.entity, bytes.NewReader(payload), nil); err != nil {
		return "", err
	}
	return sig.String(), nil
}
