package sops

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"runtime"
	"strings"
	"testing"

	"filippo.io/age"
	"filippo.io/age/armor"
	yaml2 "go.yaml.in/yaml/v2"
	yaml3 "go.yaml.in/yaml/v3"
)

// allocated runs f and returns the bytes allocated meanwhile.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// yamlNodes counts the nodes yaml.v3 makes of in's first documents (as
// parseDocument decodes them: two at most), and whether it parsed them.
func yamlNodes(in []byte) (int, bool) {
	var count func(n *yaml3.Node) int
	count = func(n *yaml3.Node) int {
		c := 1
		for _, k := range n.Content {
			c += count(k)
		}
		return c
	}
	dec := yaml3.NewDecoder(bytes.NewReader(in))
	total := 0
	for range 2 {
		var doc yaml3.Node
		if err := dec.Decode(&doc); err != nil {
			return total, err.Error() == "EOF"
		}
		total += count(&doc)
	}
	return total, true
}

// shapeSeeds are documents of the shapes the pre-scan must follow.
var shapeSeeds = []string{
	"apiVersion: v1\ndata:\n  k: ENC[AES256_GCM,data:abc=,iv:def=,tag:ghi=,type:str]\nkind: Secret\n",
	"a:\n- b\n- c: d\n  e: f\n- - g\n  - h\n-\n? i\n: j\n",
	"a: |\n  [main]\n  user = x\n    {deeper}\nb: >-\n  - [x]\n\n  y\nc: |2\n    [two]\n",
	"- |\n [x]\n- >\n  {y}\n--- |\n[root]\n",
	"a: long plain text that the emitter folds\n  [at a space] and {goes on}\nb: 'single ''quoted''\n  [text]: {x}'\nc: \"double \\\" quoted\n  [text], {x}\"\n",
	"a: []\nb: {}\nc: [ ]\n- []: x\n",
	"a: &x !!str v\nb: *x\n? !t [\n",
	"# comment: [x\na: b # comment: [y\n",
	"a: [0,0,0]\n", "[0, 0]\n", "a:\n  [0, 0]\n", "--- [0]\n", "\xef\xbb\xbf[0]\n", "a:\r  [0, 0]\n",
	"a:\u0085  [0, 0]\n", "a: !!seq [0]\n", "- - [0]\n", "? [0]\n: [1]\n", "a: \"x\n\" : [0]\n",
	"a: b\n  [0, 0]\n", "\"a\":[0]\n", "{a: 1}\n", "a: '''\n  ''': [0]\n", "...\n  [0]\n",
}

// FuzzCountNodes: whatever the input, when the pre-scan accepts it the
// parser makes no more nodes than it counted.
func FuzzCountNodes(f *testing.F) {
	for _, s := range shapeSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		counted, err := countNodes(in, 1<<30)
		if err != nil {
			return
		}
		if made, _ := yamlNodes(in); made > counted {
			t.Fatalf("%q: the parser made %d nodes, the pre-scan counted %d", in, made, counted)
		}
	})
}

// randomTree is a document of the shapes Encrypt and sops write out, with
// strings that make emitters quote, fold and use block scalars.
func randomTree(r *rand.Rand, depth int) any {
	pieces := []string{"a", "[x]", "{y}", ": ", " #", "'", "\"", "\n", "  ", "- ", "|", ">", ",", "word", "ENC[AES256_GCM,data:x,iv:y,tag:z,type:str]", "\t", "\\", "? ", "&a", "*b", "!t"}
	str := func() string {
		var sb strings.Builder
		for range r.IntN(40) {
			sb.WriteString(pieces[r.IntN(len(pieces))])
			if r.IntN(4) == 0 {
				sb.WriteString(" some words to make lines long enough to fold ")
			}
		}
		return sb.String()
	}
	if depth == 0 || r.IntN(3) == 0 {
		return str()
	}
	if r.IntN(2) == 0 {
		var s []any
		for range r.IntN(4) {
			s = append(s, randomTree(r, depth-1))
		}
		return s
	}
	var m yaml2.MapSlice
	for range r.IntN(4) {
		m = append(m, yaml2.MapItem{Key: str(), Value: randomTree(r, depth-1)})
	}
	return m
}

// TestShapeAcceptsWhatEmittersWrite: documents written by the emitter of
// this package (yaml.v2) and of sops (yaml.v3, 4 spaces), with strings that
// make them quote, fold lines and write block scalars, pass the pre-scan,
// which counts at least the nodes the parser makes and at most 3 per node.
func TestShapeAcceptsWhatEmittersWrite(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 1000 {
		tree := yaml2.MapSlice{{Key: "root", Value: randomTree(r, 4)}}
		v2, err := yaml2.Marshal(tree)
		if err != nil {
			t.Fatal(err)
		}
		var generic any
		if err := yaml3.Unmarshal(v2, &generic); err != nil {
			continue // duplicate keys
		}
		var v3 bytes.Buffer
		enc := yaml3.NewEncoder(&v3)
		enc.SetIndent(4)
		if err := enc.Encode(generic); err != nil {
			t.Fatal(err)
		}
		for name, in := range map[string][]byte{"yaml.v2": v2, "yaml.v3": v3.Bytes()} {
			var back any
			if err := yaml3.Unmarshal(in, &back); err != nil || !reflect.DeepEqual(back, generic) {
				// The emitter wrote what the parser reads otherwise
				// (yaml.v3 and a block scalar with an indentation
				// indicator in nested compact sequences): not the
				// point here.
				continue
			}
			counted, err := countNodes(in, 1<<30)
			if err != nil {
				t.Fatalf("%d %s: %v\n%s", i, name, err, in)
			}
			made, ok := yamlNodes(in)
			if !ok || made > counted || counted > 3*made+1 {
				t.Fatalf("%d %s: the parser made %d nodes (ok %v), the pre-scan counted %d\n%s", i, name, made, ok, counted, in)
			}
		}
	}
}

// TestShapeRefusals: flow collections wherever a node starts, and more nodes
// than the bound however laid out, are refused (ErrOutOfBounds); what the
// parser would read as text is not.
func TestShapeRefusals(t *testing.T) {
	for _, in := range []string{
		"a: [0,0,0]\n", "[0, 0]\n", "a:\n  [0, 0]\n", "--- [0]\n", "\xef\xbb\xbf[0]\n", "a:\r  [0, 0]\n",
		"a:\u0085  [0, 0]\n", "a:\u2028  [0, 0]\n", "a: !!seq [0]\n", "a: &x [0]\n", "- - [0]\n", "? [0]\n", ": {a: 1}\n",
		"\"a\": [0]\n", "'a': {b: c}\n", "a: |\nb: [0]\n", "a: b\n[0]: c\n", "a: \"x\n  y\": [0]\n",
		"a: >\n  text\n b: [0]\n", "a: []\nb: [0]\n", "\t[0]\n", "a: b\n  c # d\n  [0]\n", "a: b\n  # c\n  [0]\n",
		"a: *x\n  [0]\n", "|\n[0]\n", "a: b\n  c: [0]\n", "a: 'x' [0]: b\n", "a: \"x\" y\n",
	} {
		if err := checkShape([]byte(in), 1000); !errors.Is(err, ErrOutOfBounds) {
			t.Errorf("%q: %v, want ErrOutOfBounds", in, err)
		}
	}
	for _, in := range []string{
		"a: |\n  [main]\n  {x}\n", "a: >-\n  [x]\n", "a: |2\n    [x]\n", "- |\n [x]\n", "a: b\n  [c]\n",
		"a: 'x\n  [y]'\n", "a: \"x\\\"\n  [y]\"\n", "a: 'it''s\n  [y]'\n", "# a: [x]\na: b # c: [y]\n", "a: []\nb: {}\n",
		"a: ENC[AES256_GCM,data:x,iv:y,tag:z,type:str]\n", "a: http://x/[y]\n",
	} {
		if err := checkShape([]byte(in), 1000); err != nil {
			t.Errorf("%q: %v, want it accepted", in, err)
		}
	}
}

// denseInputs are 8 MiB files (the most ReadFile returns) built to make the
// parser allocate: each costs 1 to 2 GiB parsed.
func denseInputs() map[string][]byte {
	const size = 8 << 20
	flow := "[" + strings.Repeat("0,", size/2-2) + "0]\n"
	return map[string][]byte{
		"flow document":         []byte(flow),
		"flow data":             []byte("apiVersion: v1\nkind: Secret\ndata: " + flow),
		"flow after a tag":      []byte("data: !!seq " + flow),
		"flow on the next line": []byte("data:\r  " + flow),
		"block sequence":        []byte("data:\n" + strings.Repeat("- 0\n", size/4)),
		"block mapping":         []byte(strings.Repeat("a: \n", size/4)),
		"nested sequences":      []byte(strings.Repeat("- - - - - - - - - - 0\n", size/22)),
	}
}

// TestDenseYAMLRefusedCheaply: the dense inputs are refused by Decrypt and
// reported stale by Stale with less than 16 MiB allocated (each cost over a
// GiB before). Their node count is refused by the pre-scan, not by luck.
func TestDenseYAMLRefusedCheaply(t *testing.T) {
	ids := []age.Identity{newIdentity(t)}
	for name, in := range denseInputs() {
		var err error
		var stale bool
		got := allocated(func() {
			_, err = Decrypt(in, ids)
			stale = Stale(in)
		})
		if !errors.Is(err, ErrOutOfBounds) || !stale {
			t.Errorf("%s: Decrypt %v, Stale %v; want ErrOutOfBounds and stale", name, err, stale)
		}
		if got > 16<<20 {
			t.Errorf("%s: refusing it allocated %d MiB", name, got>>20)
		}
	}
}

// manyKeysSecret is a rendered Secret with n data keys of size bytes each
// (base64 of random bytes).
func manyKeysSecret(n, size int) []byte {
	var sb strings.Builder
	sb.WriteString("apiVersion: v1\ndata:\n")
	r := rand.New(rand.NewPCG(3, 4))
	const b64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	for i := range n {
		fmt.Fprintf(&sb, "  key-%06d: x", i) // a string, whatever follows
		for range size - 1 {
			sb.WriteByte(b64[r.IntN(64)])
		}
		sb.WriteByte('\n')
	}
	sb.WriteString("kind: Secret\nmetadata:\n  name: big\n  namespace: shop\ntype: Opaque\n")
	return []byte(sb.String())
}

// TestLargeSecretsWithinBounds: a Secret of 1.5 MiB in 15,000 keys, and one
// of MaxNodes/3-10 keys (the most keys a Secret may have), encrypt, decrypt
// back and are not stale; one key more and Encrypt refuses it, so that what
// this package writes it always reads back.
func TestLargeSecretsWithinBounds(t *testing.T) {
	id := newIdentity(t)
	recipients := []string{id.Recipient().String()}
	for _, tc := range []struct {
		name      string
		keys, len int
	}{{"1.5 MiB in 15,000 keys", 15_000, 100}, {"the most keys", MaxNodes/3 - 10, 4}} {
		plain := manyKeysSecret(tc.keys, tc.len)
		enc, err := Encrypt(plain, recipients)
		if err != nil {
			t.Fatalf("%s (%d bytes): Encrypt: %v", tc.name, len(plain), err)
		}
		var dec []byte
		got := allocated(func() { dec, err = Decrypt(enc, []age.Identity{id}) })
		if err != nil || !bytes.Equal(dec, plain) {
			t.Fatalf("%s: Decrypt: %v", tc.name, err)
		}
		if Stale(enc) {
			t.Fatalf("%s: stale", tc.name)
		}
		t.Logf("%s: %d KiB plain, %d KiB encrypted, decrypted with %d MiB allocated", tc.name, len(plain)>>10, len(enc)>>10, got>>20)
	}
	if _, err := Encrypt(manyKeysSecret(MaxNodes/3, 4), recipients); !errors.Is(err, ErrOutOfBounds) {
		t.Fatalf("a Secret past MaxNodes: %v", err)
	}
}

// withAgeEntries rewrites a file of Encrypt's (for id) with its data key
// wrapped anew: one sops.age entry per element of stanzas, an age file to
// that many recipients (id's last in the last entry, the others random).
func withAgeEntries(t *testing.T, enc []byte, id *age.X25519Identity, stanzas []int) []byte {
	t.Helper()
	_, md, err := parseSOPSFile(enc)
	if err != nil {
		t.Fatal(err)
	}
	dataKey, err := md.dataKey([]age.Identity{id})
	if err != nil {
		t.Fatal(err)
	}
	var entries []any
	for i, n := range stanzas {
		recipients := make([]age.Recipient, n)
		for k := range recipients {
			recipients[k] = newIdentity(t).Recipient()
		}
		if i == len(stanzas)-1 {
			recipients[n-1] = id.Recipient()
		}
		var buf bytes.Buffer
		aw := armor.NewWriter(&buf)
		w, err := age.Encrypt(aw, recipients...)
		if err == nil {
			_, err = w.Write(dataKey)
		}
		if err == nil {
			err = w.Close()
		}
		if err == nil {
			err = aw.Close()
		}
		if err != nil {
			t.Fatal(err)
		}
		entries = append(entries, yaml2.MapSlice{{Key: "enc", Value: buf.String()}, {Key: "recipient", Value: "age1whatever"}})
	}
	whole, err := parseDocument(enc, parseOptions{stored: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, item := range whole {
		if item.Key == metadataKey {
			for k, m := 0, item.Value.(yaml2.MapSlice); k < len(m); k++ {
				if m[k].Key == "age" {
					m[k].Value = entries
				}
			}
		}
	}
	out, err := emit(whole)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestAgeMetadataBounds: the data key is unwrapped from at most
// MaxAgeEntries sops.age entries of at most MaxAgeEncSize bytes each, whose
// stanzas together are at most MaxAgeEntries; past either, Decrypt fails with
// ErrOutOfBounds before trying any (and Stale reports the file), within them
// the key unwraps from the last stanza of the last entry.
func TestAgeMetadataBounds(t *testing.T) {
	id := newIdentity(t)
	enc, err := Encrypt([]byte("apiVersion: v1\ndata:\n  k: dmFsdWU=\nkind: Secret\n"), []string{id.Recipient().String()})
	if err != nil {
		t.Fatal(err)
	}
	ones := func(n int) []int {
		s := make([]int, n)
		for i := range s {
			s[i] = 1
		}
		return s
	}
	// 15 identities that open nothing, then id: each is tried on each stanza.
	ids := make([]age.Identity, 0, MaxIdentities)
	for range MaxIdentities - 1 {
		ids = append(ids, newIdentity(t))
	}
	ids = append(ids, id)
	for _, tc := range []struct {
		name      string
		stanzas   []int
		ok, stale bool // Stale reads the metadata, not the age files
	}{
		{"64 entries", ones(MaxAgeEntries), true, false},
		{"65 entries", ones(MaxAgeEntries + 1), false, true},
		{"one entry of 64 stanzas", []int{MaxAgeEntries}, true, false},
		{"stanzas past 64 together", []int{32, 33}, false, false},
		{"one entry past MaxAgeEncSize", []int{MaxAgeEncSize / 100}, false, true},
	} {
		file := withAgeEntries(t, enc, id, tc.stanzas)
		_, err := Decrypt(file, ids)
		if tc.ok != (err == nil) || !tc.ok && !errors.Is(err, ErrOutOfBounds) {
			t.Errorf("%s: Decrypt: %v", tc.name, err)
		}
		if Stale(file) != tc.stale {
			t.Errorf("%s: Stale %v", tc.name, !tc.stale)
		}
	}
}
