package snapshot

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	"github.com/configbutler/gitops-reverser/pkg/gitmodel"
	"github.com/configbutler/gitops-reverser/pkg/lifecycle/mirror"
	"github.com/configbutler/gitops-reverser/pkg/render"
)

// clearingLister lists like the stream's lister: objects are slots of a
// page, and a slot is cleared as soon as the plan's callback returns.
func clearingLister(objs map[schema.GroupVersionResource][]unstructured.Unstructured) Lister {
	return func(_ context.Context, gvr schema.GroupVersionResource, fn func(*unstructured.Unstructured) error) (string, error) {
		page := slices.Clone(objs[gvr])
		for i := range page {
			if err := fn(&page[i]); err != nil {
				return "", err
			}
			page[i] = unstructured.Unstructured{}
		}
		return "100", nil
	}
}

// TestBatchedWrites: the files rendered in batches, several flushes' worth,
// are the objects' (not the cleared slots'), in the order the objects came,
// with every count; a file that cannot be rendered is counted and named in
// order, and the others of its batch are written.
func TestBatchedWrites(t *testing.T) {
	n := 3*writeBatch + 5
	var cms, secrets []unstructured.Unstructured
	var want []string
	for i := range n {
		o := cm("demo", fmt.Sprintf("c%03d", i), fmt.Sprint(i))
		o.SetUID(types.UID(fmt.Sprint("uid-", i)))
		cms = append(cms, *o)
		want = append(want, fmt.Sprintf("base/v1/configmaps/demo/c%03d.yaml", i))
	}
	for i := range 5 {
		secrets = append(secrets, unstructured.Unstructured{Object: map[string]interface{}{
			"apiVersion": "v1", "kind": "Secret",
			"metadata": map[string]interface{}{"name": fmt.Sprintf("s%d", i), "namespace": "demo"},
			"data":     map[string]interface{}{"k": "dg=="},
		}})
	}
	same, err := render.Render(&cms[20])
	if err != nil {
		t.Fatal(err)
	}
	tree := memTree{
		"base/v1/configmaps/demo/c010.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c010\n  namespace: demo\n",
		"base/v1/configmaps/demo/c020.yaml": string(same),
	}
	// Keys no file can be encrypted to: every Secret fails.
	tgt := &mirror.Target{Key: "demo/t", Path: "base", Keys: &mirror.Keys{Recipients: []string{"not-a-recipient"}}, Selection: demoSelection(cmGVR, secGVR)}

	p, err := Compute(context.Background(), tgt, tree, nil, clearingLister(map[schema.GroupVersionResource][]unstructured.Unstructured{cmGVR: cms, secGVR: secrets}), nil)
	if err != nil {
		t.Fatal(err)
	}
	if p.Stats.Created != int32(n-2) || p.Stats.Updated != 1 || p.Stats.Unchanged != 1 || p.Stats.Failed != 5 {
		t.Fatalf("stats %+v", p.Stats)
	}
	created := slices.DeleteFunc(slices.Clone(want), func(s string) bool { return s == want[10] || s == want[20] })
	if !slices.Equal(p.Created, created) || !slices.Equal(p.Updated, want[10:11]) {
		t.Errorf("created %v\nupdated %v\nwant them in the objects' order", p.Created, p.Updated)
	}
	var changed []string
	for i, c := range p.Changes {
		changed = append(changed, c.Path)
		var obj *unstructured.Unstructured
		for j := range want {
			if want[j] == c.Path {
				obj = &cms[j]
			}
		}
		b, err := render.Render(obj)
		if err != nil {
			t.Fatal(err)
		}
		if got := string(must(c.Data())); got != string(b) || c.Stored.Hash != gitmodel.BlobHash(b) {
			t.Fatalf("change %d (%s) holds\n%s\nwant\n%s", i, c.Path, got, b)
		}
	}
	if !slices.Equal(changed, slices.DeleteFunc(slices.Clone(want), func(s string) bool { return s == want[20] })) {
		t.Errorf("changes in the order %v", changed)
	}
	if len(p.Learned) != n {
		t.Fatalf("learned %d files, want %d", len(p.Learned), n)
	}
	for i, l := range p.Learned {
		if l.Path != want[i] || l.UID != fmt.Sprint("uid-", i) || l.ResourceVersion != "5" {
			t.Fatalf("learned %d: %+v", i, l)
		}
	}
	for i, f := range p.Failed {
		if f.Object != fmt.Sprintf("secrets demo/s%d", i) {
			t.Errorf("failure %d names %q, want the Secrets in order", i, f.Object)
		}
	}
	if len(p.pending) != 0 {
		t.Errorf("%d writes still pending after the plan", len(p.pending))
	}
}

// TestRenderAll: however many goroutines render a batch, each file is its
// own object's.
func TestRenderAll(t *testing.T) {
	for _, workers := range []int{0, 1, 2, 7, 100} {
		batch := make([]pendingWrite, 20)
		for i := range batch {
			batch[i] = pendingWrite{gvr: cmGVR, obj: cm("demo", fmt.Sprint("c", i), fmt.Sprint(i))}
		}
		renderAll(batch, workers)
		for i, w := range batch {
			b, _ := render.Render(cm("demo", fmt.Sprint("c", i), fmt.Sprint(i)))
			if w.err != nil || w.unchanged || w.compressed.Hash != gitmodel.BlobHash(b) {
				t.Fatalf("workers %d, file %d: err %v unchanged %v hash %v", workers, i, w.err, w.unchanged, w.compressed.Hash)
			}
		}
	}
}

// TestRecycled: a rendering's buffer goes back to the pool cleared when it
// held a Secret's plaintext, as it is otherwise, and not at all when a large
// object grew it past maxRenderBuf.
func TestRecycled(t *testing.T) {
	for _, tc := range []struct {
		name       string
		size       int
		secret     bool
		pooled     bool
		keepsBytes bool
	}{
		{name: "a ConfigMap", size: 100, pooled: true, keepsBytes: true},
		{name: "a Secret", size: 100, secret: true, pooled: true},
		{name: "a large ConfigMap", size: maxRenderBuf + 1, keepsBytes: true},
		{name: "a large Secret", size: maxRenderBuf + 1, secret: true},
	} {
		plain := make([]byte, tc.size, tc.size+10)
		for i := range plain[:cap(plain)] {
			plain[:cap(plain)][i] = 'x'
		}
		b, ok := recycled(plain, tc.secret)
		if ok != tc.pooled || (ok && (len(b) != 0 || cap(b) != cap(plain))) {
			t.Errorf("%s: pooled %v (len %d, cap %d), want %v with the whole buffer", tc.name, ok, len(b), cap(b), tc.pooled)
		}
		kept := bytes.Count(plain[:cap(plain)], []byte{'x'})
		if want := map[bool]int{true: cap(plain), false: 0}[tc.keepsBytes]; kept != want {
			t.Errorf("%s: %d of %d bytes left as they were", tc.name, kept, cap(plain))
		}
	}
}
