package selection

import (
	"testing"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/sets"
)

func TestCeilings(t *testing.T) {
	cms := schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
	secrets := schema.GroupVersionResource{Version: "v1", Resource: "secrets"}
	in := func(gvr schema.GroupVersionResource, ns ...string) Selection {
		return Selection{gvr: {Resource: APIResource{GVR: gvr, Namespaced: true}, Namespaces: sets.New(ns...)}}
	}
	both := Merge(in(cms, "a", "b"), in(secrets, "a"))
	c := Ceilings{}
	if !c.Allows("t", cms, "z") || c.Narrower("t", both) || c.Bound("t", both).Fingerprint() != both.Fingerprint() {
		t.Fatal("a target without a ceiling is bounded")
	}
	c.Set("t", both)
	for _, tc := range []struct {
		gvr  schema.GroupVersionResource
		ns   string
		want bool
	}{{cms, "a", true}, {cms, "b", true}, {cms, "c", false}, {secrets, "a", true}, {secrets, "b", false}} {
		if got := c.Allows("t", tc.gvr, tc.ns); got != tc.want {
			t.Errorf("Allows(%s, %s) = %v", tc.gvr.Resource, tc.ns, got)
		}
	}
	// Narrowing intersects, and never widens.
	got := c.Narrow("t", in(cms, "b", "c"))
	if got.Fingerprint() != in(cms, "b").Fingerprint() || c.Allows("t", cms, "a") || c.Allows("t", secrets, "a") {
		t.Fatalf("after Narrow: %v", got.Names())
	}
	c.Narrow("t", both)
	if c.Allows("t", cms, "a") {
		t.Fatal("Narrow widened the ceiling")
	}
	if !c.Narrower("t", both) || c.Narrower("t", in(cms, "b")) {
		t.Fatal("Narrower")
	}
	if b := c.Bound("t", both); b.Fingerprint() != in(cms, "b").Fingerprint() {
		t.Fatalf("Bound = %v", b.Names())
	}
	// A new snapshot request sets it afresh; Forget unbounds.
	c.Set("t", both)
	if !c.Allows("t", secrets, "a") {
		t.Fatal("Set did not replace the ceiling")
	}
	c.Forget("t")
	if !c.Allows("t", cms, "zzz") {
		t.Fatal("Forget left a ceiling")
	}
	// Narrow of a target without one sets it.
	c.Narrow("u", in(cms, "a"))
	if c.Allows("u", cms, "b") {
		t.Fatal("Narrow without a ceiling did not set one")
	}
}
