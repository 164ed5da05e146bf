package validation

import (
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler"
)

func TestValidateGitRestore(t *testing.T) {
	restore := func(s configbutler.GitRestoreSpec) *configbutler.GitRestore {
		return &configbutler.GitRestore{ObjectMeta: metav1.ObjectMeta{Name: "r", Namespace: "ns"}, Spec: s}
	}
	target := &configbutler.GitRestoreTarget{Name: "mirror"}
	many := make([]string, 33)
	for i := range many {
		many[i] = "ns" + string(rune('a'+i%26)) + string(rune('a'+i/26))
	}
	for _, tc := range []struct {
		name string
		spec configbutler.GitRestoreSpec
		want string // "" valid, else a part of the error
	}{
		{"one revision", configbutler.GitRestoreSpec{ObjectRevision: "9a7f31042c1e-0b5e61d2a9f3"}, ""},
		{"a target, its tip", configbutler.GitRestoreSpec{Target: target, Namespaces: []string{"app"}}, ""},
		{"a target at a commit", configbutler.GitRestoreSpec{Target: target, Commit: "4c1d2e9", Namespaces: []string{"app"}, Prune: true}, ""},
		{"neither", configbutler.GitRestoreSpec{}, "spec: Required"},
		{"both", configbutler.GitRestoreSpec{ObjectRevision: "x", Target: target, Namespaces: []string{"app"}}, "spec.target"},
		{"a revision with a commit", configbutler.GitRestoreSpec{ObjectRevision: "x", Commit: "4c1d2e9"}, "spec.commit: Forbidden"},
		{"a revision with prune", configbutler.GitRestoreSpec{ObjectRevision: "x", Prune: true}, "spec.prune: Forbidden"},
		{"no namespaces", configbutler.GitRestoreSpec{Target: target}, "spec.namespaces: Required"},
		{"too many namespaces", configbutler.GitRestoreSpec{Target: target, Namespaces: many}, "spec.namespaces: Too many"},
		{"a duplicate namespace", configbutler.GitRestoreSpec{Target: target, Namespaces: []string{"a", "a"}}, "spec.namespaces[1]: Duplicate"},
		{"a bad commit", configbutler.GitRestoreSpec{Target: target, Commit: "HEAD~1", Namespaces: []string{"a"}}, "spec.commit: Invalid"},
		{"a bad namespace", configbutler.GitRestoreSpec{Target: target, Namespaces: []string{"Not_A_Name"}}, "spec.namespaces[0]"},
	} {
		errs := ValidateGitRestore(restore(tc.spec))
		got := errs.ToAggregate()
		switch {
		case tc.want == "" && got != nil:
			t.Errorf("%s: %v", tc.name, got)
		case tc.want != "" && (got == nil || !strings.Contains(got.Error(), tc.want)):
			t.Errorf("%s: %v, want %q", tc.name, got, tc.want)
		}
	}
	old := restore(configbutler.GitRestoreSpec{ObjectRevision: "a"})
	changed := restore(configbutler.GitRestoreSpec{ObjectRevision: "b"})
	if errs := ValidateGitRestoreUpdate(changed, old); len(errs) == 0 || !strings.Contains(errs.ToAggregate().Error(), "cannot change") {
		t.Errorf("spec change admitted: %v", errs)
	}
}
