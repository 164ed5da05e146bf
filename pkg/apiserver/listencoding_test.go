package apiserver

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"

	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler"
	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler/v1alpha1"
)

// servedTarget is a GitTarget with everything a stored one has, and strings
// the encoder must escape as encoding/json does (HTML, U+2028, quotes).
func servedTarget(i int) v1alpha1.GitTarget {
	at := metav1.NewTime(time.Date(2026, 12, 1, 10, 0, i%60, 0, time.UTC))
	return v1alpha1.GitTarget{
		ObjectMeta: metav1.ObjectMeta{
			Name: fmt.Sprintf("t-%04d", i), Namespace: "team-a", UID: types.UID(fmt.Sprintf("uid-%d", i)),
			ResourceVersion: fmt.Sprint(1000 + i), Generation: 2, CreationTimestamp: at,
			Labels:      map[string]string{"z": "last", "a": "<first> & \"quoted\"", "m": "line\u2028sep"},
			Annotations: map[string]string{"configbutler.ai/note": "ünïcode ✓"},
			ManagedFields: []metav1.ManagedFieldsEntry{{
				Manager: "kubectl", Operation: metav1.ManagedFieldsOperationApply, APIVersion: "configbutler.ai/v1alpha1",
				Time: &at, FieldsType: "FieldsV1", FieldsV1: &metav1.FieldsV1{Raw: []byte(`{"f:spec":{"f:path":{}}}`)},
			}},
		},
		Spec: v1alpha1.GitTargetSpec{ProviderRef: v1alpha1.GitProviderReference{Name: "p"}, Branch: "main", Path: fmt.Sprintf("targets/<%d>", i)},
		Status: v1alpha1.GitTargetStatus{
			ObservedGeneration: 2,
			Conditions: []metav1.Condition{
				{Type: v1alpha1.ConditionValidated, Status: metav1.ConditionTrue, Reason: "OK", Message: "a <b> & c", ObservedGeneration: 2, LastTransitionTime: at},
				{Type: v1alpha1.ConditionReady, Status: metav1.ConditionFalse, Reason: "EncryptionNotConfigured", ObservedGeneration: 2, LastTransitionTime: at},
			},
			LastCommit: "0123abcd",
		},
	}
}

// internalList is a served list as the REST layer returns it: internal objects.
func internalList(t *testing.T, items []v1alpha1.GitTarget) *configbutler.GitTargetList {
	t.Helper()
	ext := &v1alpha1.GitTargetList{ListMeta: metav1.ListMeta{ResourceVersion: "5000"}, Items: items}
	var out configbutler.GitTargetList
	if err := Scheme.Convert(ext, &out, nil); err != nil {
		t.Fatal(err)
	}
	return &out
}

// encoders returns the JSON encoder the server negotiates and the plain one.
func encoders(t *testing.T) (served, plain runtime.Encoder, cache *itemCache) {
	t.Helper()
	for _, info := range newWithoutProtobuf(Codecs).SupportedMediaTypes() {
		if info.MediaType == runtime.ContentTypeProtobuf {
			t.Fatal("protobuf is offered")
		}
		if info.MediaType == runtime.ContentTypeJSON {
			ie, ok := info.Serializer.(itemEncoder)
			if !ok {
				t.Fatalf("JSON is served by %T, not the item encoder", info.Serializer)
			}
			served, cache = Codecs.EncoderForVersion(info.Serializer, v1alpha1.SchemeGroupVersion), ie.cache
		}
	}
	for _, info := range Codecs.SupportedMediaTypes() {
		if info.MediaType == runtime.ContentTypeJSON {
			plain = Codecs.EncoderForVersion(info.Serializer, v1alpha1.SchemeGroupVersion)
		}
	}
	if served == nil || plain == nil {
		t.Fatal("no JSON serializer")
	}
	return served, plain, cache
}

func encode(t *testing.T, e runtime.Encoder, obj runtime.Object) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := e.Encode(obj, &b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestItemEncoderWritesWhatJSONDoes: a served GitTarget LIST is byte for byte
// what the plain JSON serializer writes, on the first request (encoding every
// item) and the next ones (from the cache: no item encoded again), and after an
// item changes, by a write (new resourceVersion) or only in what the read path
// computes (same resourceVersion, other conditions): then that item alone is
// encoded again. Lists of other kinds, empty lists and single objects take the
// plain path.
func TestItemEncoderWritesWhatJSONDoes(t *testing.T) {
	served, plain, cache := encoders(t)
	items := make([]v1alpha1.GitTarget, 300) // over 256 KiB: written in pieces
	for i := range items {
		items[i] = servedTarget(i)
	}
	same := func(what string, obj runtime.Object) {
		t.Helper()
		want, got := encode(t, plain, obj), encode(t, served, obj)
		if !bytes.Equal(want, got) {
			i := 0
			for i < min(len(want), len(got)) && want[i] == got[i] {
				i++
			}
			t.Fatalf("%s: served JSON differs from the plain serializer's at byte %d:\nplain:  %.120s\nserved: %.120s", what, i, want[i:], got[i:])
		}
	}
	misses := func(want int, what string) {
		t.Helper()
		if cache.encodes != want {
			t.Fatalf("%s: %d items encoded, want %d", what, cache.encodes, want)
		}
	}

	same("first LIST", internalList(t, items))
	misses(len(items), "first LIST")
	same("second LIST", internalList(t, items))
	misses(len(items), "second LIST")

	items[7].ResourceVersion = "9999"                           // a write
	items[8].Status.Conditions[1].Status = metav1.ConditionTrue // read-time Ready, same resourceVersion
	items[8].Status.Conditions[1].Reason = "OK"
	items[9].Status.ObservedGeneration = 1
	same("after changes", internalList(t, items))
	misses(len(items)+3, "after changes")

	same("a list of two", internalList(t, items[5:7]))
	misses(len(items)+3, "a list of two")
	same("an empty list", internalList(t, nil))
	same("an empty list", internalList(t, []v1alpha1.GitTarget{}))
	var one configbutler.GitTarget
	if err := Scheme.Convert(&items[3], &one, nil); err != nil {
		t.Fatal(err)
	}
	same("one GitTarget", &one)
	same("another kind's list", &configbutler.WatchRuleList{ListMeta: metav1.ListMeta{ResourceVersion: "3"}, Items: []configbutler.WatchRule{{ObjectMeta: metav1.ObjectMeta{Name: "r", UID: "u", ResourceVersion: "1"}}}})
	noUID := servedTarget(1)
	noUID.UID = ""
	same("an item with no uid", internalList(t, []v1alpha1.GitTarget{noUID}))
	misses(len(items)+3, "single objects and other kinds")
}

// TestItemCacheDropsUnusedEntries: an entry not used for cacheTTL goes at the
// next sweep, one in use stays.
func TestItemCacheDropsUnusedEntries(t *testing.T) {
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	c := newItemCache()
	c.now = func() time.Time { return now }
	a, b, d := servedTarget(1), servedTarget(2), servedTarget(3)
	for _, x := range []*v1alpha1.GitTarget{&a, &b} {
		if _, err := c.encode(x); err != nil {
			t.Fatal(err)
		}
	}
	now = now.Add(cacheTTL / 2)
	if _, err := c.encode(&a); err != nil { // a is used, b is not
		t.Fatal(err)
	}
	if _, err := c.encode(&d); err != nil {
		t.Fatal(err)
	}
	now = now.Add(cacheTTL/2 + time.Second)
	if left := c.sweep(now); left != 2 {
		t.Fatalf("after the sweep the cache holds %d entries, want a and d", left)
	}
	if _, ok := c.items[b.UID]; ok {
		t.Fatal("b, unused for the TTL, is held")
	}
}

// TestItemCacheEmptiesWhenNobodyLists: with nobody listing, the cache's own
// sweeper drops every entry and ends; the next LIST starts it again.
func TestItemCacheEmptiesWhenNobodyLists(t *testing.T) {
	c := newItemCache()
	c.ttl, c.every = 20*time.Millisecond, 5*time.Millisecond
	a := servedTarget(1)
	for round := range 2 {
		if _, err := c.encode(&a); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for {
			c.mu.Lock()
			n, sweeping := len(c.items), c.sweeping
			c.mu.Unlock()
			if n == 0 && !sweeping {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("round %d: the cache still holds %d entries (sweeper running: %v) with nobody listing", round, n, sweeping)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
}
