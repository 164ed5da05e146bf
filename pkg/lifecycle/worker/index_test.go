package worker

import (
	"strings"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/configbutler/gitops-reverser/pkg/lifecycle/mirror"
)

// TestResumePoints: resume points survive a save and load, are used only
// under their fingerprint, an unchanged checkpoint writes nothing, and the
// tree check accepts exactly the files the index says were written (foreign
// files outside the layout aside).
func TestResumePoints(t *testing.T) {
	dir := t.TempDir()
	cm := schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
	blob := plumbing.NewHash("1111111111111111111111111111111111111111")
	x := loadIndex(dir)
	x.recordVersion("base/v1/configmaps/demo/a.yaml", "uid-a", "7", "keys", blob)
	x.setResume("demo/t", map[schema.GroupVersionResource]mirror.Position{cm: {RV: "10", Fingerprint: "fp"}})
	if err := x.save(); err != nil {
		t.Fatal(err)
	}
	y := loadIndex(dir)
	if got := y.resumeFor("demo/t", cm, "fp"); got != "10" {
		t.Errorf("resume point after a load: %q, want 10", got)
	}
	if y.resumeFor("demo/t", cm, "other") != "" || y.resumeFor("demo/other", cm, "fp") != "" {
		t.Error("a resume point used under another fingerprint or target")
	}
	y.setResume("demo/t", map[schema.GroupVersionResource]mirror.Position{cm: {RV: "10", Fingerprint: "fp"}})
	if y.dirty {
		t.Error("an unchanged checkpoint made the index dirty")
	}
	y.setResume("demo/t", nil)
	if !y.dirty || y.resumeFor("demo/t", cm, "fp") != "" {
		t.Error("forgetting the resume points did not take")
	}

	parse := func(p string) (string, bool) {
		rest, ok := strings.CutPrefix(p, "base/v1/configmaps/")
		ns, _, ok2 := strings.Cut(rest, "/")
		return ns, ok && ok2 && strings.HasSuffix(p, ".yaml")
	}
	exact := map[string]plumbing.Hash{"base/v1/configmaps/demo/a.yaml": blob, "base/v1/configmaps/README.md": plumbing.ZeroHash}
	if !y.holdsExactly(exact, "base/v1/configmaps", parse) {
		t.Error("the tree the index describes was refused")
	}
	extra := map[string]plumbing.Hash{"base/v1/configmaps/demo/a.yaml": blob, "base/v1/configmaps/demo/b.yaml": blob}
	changed := map[string]plumbing.Hash{"base/v1/configmaps/demo/a.yaml": plumbing.NewHash("2222222222222222222222222222222222222222")}
	for what, tree := range map[string]map[string]plumbing.Hash{"a file someone added": extra, "a file someone changed": changed, "a file someone deleted": {}} {
		if y.holdsExactly(tree, "base/v1/configmaps", parse) {
			t.Errorf("%s was accepted", what)
		}
	}
}
