package gates

import (
	"fmt"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler/v1alpha1"
)

func TestDownstreamMatchesSeedExamples(t *testing.T) {
	type want struct{ status, reason, msg string }
	cases := []struct {
		name    string
		failed  string
		present map[string]bool
		want    map[string]want
	}{
		{
			name: "example 1: Validated fails", failed: v1alpha1.ConditionValidated,
			want: map[string]want{
				"EncryptionConfigured": {"Unknown", "Blocked", "Blocked by Validated=False"},
				"Bootstrapped":         {"Unknown", "Blocked", "Blocked by Validated=False"},
				"SnapshotSynced":       {"Unknown", "NotStarted", "Initial snapshot sync has not started"},
				"EventStreamLive":      {"Unknown", "NotStarted", "Event stream activation has not started"},
			},
		},
		{
			name: "example 2: EncryptionConfigured fails on a new target", failed: v1alpha1.ConditionEncryptionConfigured,
			want: map[string]want{"Bootstrapped": {"Unknown", "Blocked", "Blocked by EncryptionConfigured=False"}},
		},
		{
			name: "EncryptionConfigured fails after the target was Ready", failed: v1alpha1.ConditionEncryptionConfigured,
			present: map[string]bool{"SnapshotSynced": true, "EventStreamLive": true},
			want: map[string]want{
				"Bootstrapped":    {"Unknown", "Blocked", "Blocked by EncryptionConfigured=False"},
				"SnapshotSynced":  {"Unknown", "Blocked", "Blocked by EncryptionConfigured=False"},
				"EventStreamLive": {"Unknown", "Blocked", "Blocked by EncryptionConfigured=False"},
			},
		},
		{
			name: "examples 3 and 4: snapshot not done", failed: v1alpha1.ConditionSnapshotSynced,
			want: map[string]want{"EventStreamLive": {"Unknown", "Blocked", "Blocked until SnapshotSynced=True"}},
		},
		{name: "stream is last", failed: v1alpha1.ConditionEventStreamLive, want: map[string]want{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := Downstream(tc.failed, tc.present)
			if len(got) != len(tc.want) {
				t.Fatalf("got %d gates %v, want %d", len(got), got, len(tc.want))
			}
			for g, w := range tc.want {
				r := got[g]
				if string(r.Status) != w.status || r.Reason != w.reason || r.Message != w.msg {
					t.Errorf("%s = %+v, want %+v", g, r, w)
				}
			}
		})
	}
}

func provider(ns, name, url string, branches ...string) *v1alpha1.GitProvider {
	return &v1alpha1.GitProvider{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       v1alpha1.GitProviderSpec{URL: url, AllowedBranches: branches},
	}
}

var base = time.Date(2026, 2, 19, 10, 0, 0, 0, time.UTC)

func target(ns, name, prov, branch, path string, age int) *v1alpha1.GitTarget {
	return &v1alpha1.GitTarget{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, UID: types.UID(ns + "/" + name),
			CreationTimestamp: metav1.NewTime(base.Add(time.Duration(age) * time.Second))},
		Spec: v1alpha1.GitTargetSpec{ProviderRef: v1alpha1.GitProviderReference{Name: prov}, Branch: branch, Path: path},
	}
}

func lookup(ps ...*v1alpha1.GitProvider) ProviderLookup {
	return func(ns string, ref v1alpha1.GitProviderReference) (*v1alpha1.GitProvider, string) {
		for _, p := range ps {
			if p.Namespace == ns && p.Name == ref.Name && (p.Kind == v1alpha1.KindGitRepository) == ref.IsFlux() {
				return p, ""
			}
		}
		return nil, fmt.Sprintf("Referenced GitProvider '%s/%s' not found", ns, ref.Name)
	}
}

func TestEvaluateValidated(t *testing.T) {
	providers := lookup(
		provider("sut", "main-provider", "https://github.com/org/repo.git", "main", "env/*"),
		provider("sut", "scp", "git@github.com:org/repo", "main"),
		provider("other", "https", "https://GITHUB.com/org/repo/", "main"),
		provider("sut", "elsewhere", "https://github.com/org/other.git", "main"),
	)
	cases := []struct {
		name, reason, msgPart string
		t                     *v1alpha1.GitTarget
		others                []*v1alpha1.GitTarget
	}{
		{name: "ok", reason: "OK", msgPart: "Provider and branch validation passed", t: target("sut", "t", "main-provider", "main", "a", 5)},
		{name: "missing provider", reason: "ProviderNotFound", msgPart: "Referenced GitProvider 'sut/nope' not found",
			t: target("sut", "t", "nope", "main", "a", 5)},
		{name: "provider in another namespace does not count", reason: "ProviderNotFound",
			t: target("sut", "t", "https", "main", "a", 5)},
		{name: "branch glob matches", reason: "OK", t: target("sut", "t", "main-provider", "env/prod", "a", 5)},
		{name: "branch not allowed", reason: "BranchNotAllowed", msgPart: `Branch "dev" is not allowed`,
			t: target("sut", "t", "main-provider", "dev", "a", 5)},
		{name: "glob does not cross /", reason: "BranchNotAllowed", t: target("sut", "t", "main-provider", "env/a/b", "a", 5)},
		{name: "older target same path (scp form) wins", reason: "TargetConflict", msgPart: "GitTarget 'sut/old' already writes",
			t: target("sut", "t", "main-provider", "main", "apps", 5), others: []*v1alpha1.GitTarget{target("sut", "old", "scp", "main", "apps", 1)}},
		{name: "nested path conflicts across namespaces, without naming the other", reason: "TargetConflict", msgPart: `Another GitTarget already writes branch "main" of github.com/org/repo at a path that overlaps "apps/team"`,
			t: target("sut", "t", "main-provider", "main", "apps/team", 5), others: []*v1alpha1.GitTarget{target("other", "old", "https", "main", "apps", 1)}},
		{name: "root contains everything", reason: "TargetConflict",
			t: target("sut", "t", "main-provider", "main", "apps", 5), others: []*v1alpha1.GitTarget{target("sut", "old", "scp", "main", "", 1)}},
		{name: "newer target does not block the older", reason: "OK",
			t: target("sut", "t", "main-provider", "main", "apps", 1), others: []*v1alpha1.GitTarget{target("sut", "new", "scp", "main", "apps", 5)}},
		{name: "same age: name order", reason: "TargetConflict", msgPart: "'sut/a'",
			t: target("sut", "b", "main-provider", "main", "apps", 1), others: []*v1alpha1.GitTarget{target("sut", "a", "scp", "main", "apps", 1)}},
		{name: "sibling paths do not conflict", reason: "OK",
			t: target("sut", "t", "main-provider", "main", "apps2", 5), others: []*v1alpha1.GitTarget{target("sut", "old", "scp", "main", "apps", 1)}},
		{name: "other branch does not conflict", reason: "OK",
			t: target("sut", "t", "main-provider", "env/x", "apps", 5), others: []*v1alpha1.GitTarget{target("sut", "old", "main-provider", "main", "apps", 1)}},
		{name: "other repository does not conflict", reason: "OK",
			t: target("sut", "t", "main-provider", "main", "apps", 5), others: []*v1alpha1.GitTarget{target("sut", "old", "elsewhere", "main", "apps", 1)}},
		{name: "an older target that cannot write does not block", reason: "OK",
			t: target("sut", "t", "main-provider", "main", "apps", 5), others: []*v1alpha1.GitTarget{target("sut", "old", "missing", "main", "apps", 1)}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			all := append([]*v1alpha1.GitTarget{tc.t}, tc.others...)
			r, res := Validated(tc.t, providers, all)
			if r.Reason != tc.reason || !strings.Contains(r.Message, tc.msgPart) {
				t.Fatalf("got %s %q, want %s containing %q", r.Reason, r.Message, tc.reason, tc.msgPart)
			}
			if (r.Status == metav1.ConditionTrue) != (res != nil) {
				t.Fatalf("resolved %v for status %s", res, r.Status)
			}
			if res != nil && res.Key.Repo != "github.com/org/repo" && res.Key.Repo != "github.com/org/other" {
				t.Errorf("branch key %v", res.Key)
			}
		})
	}
}

func TestPathsOverlap(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want bool
	}{
		{"a", "a", true}, {"a", "a/b", true}, {"a/b", "a", true}, {"", "x", true},
		{"a", "ab", false}, {"a/b", "a/c", false}, {"ab/c", "a", false},
	} {
		if got := PathsOverlap(tc.a, tc.b); got != tc.want {
			t.Errorf("PathsOverlap(%q, %q) = %v", tc.a, tc.b, got)
		}
	}
}

// TestFluxProviderIsAnotherProvider: a GitProvider and a Flux GitRepository
// of one name are two providers: their targets get two branch keys (two
// workers, each with its own credentials), and a missing GitRepository is
// named as such.
func TestFluxProviderIsAnotherProvider(t *testing.T) {
	ours := &v1alpha1.GitProvider{ObjectMeta: metav1.ObjectMeta{Namespace: "a", Name: "repo"}, Spec: v1alpha1.GitProviderSpec{URL: "https://git.example.com/x.git", AllowedBranches: []string{"*"}}}
	flux := ours.DeepCopy()
	flux.Kind = v1alpha1.KindGitRepository
	providers := lookup(ours, flux)
	t1 := target("a", "t1", "repo", "main", "one", 0)
	t2 := target("a", "t2", "repo", "main", "two", 1)
	t2.Spec.ProviderRef.Group, t2.Spec.ProviderRef.Kind = v1alpha1.FluxSourceGroup, v1alpha1.KindGitRepository
	_, k1, ok1 := BranchKeyFor(t1, providers)
	_, k2, ok2 := BranchKeyFor(t2, providers)
	if !ok1 || !ok2 || k1 == k2 || k1.Provider != "a/repo" || k2.Provider != "a/GitRepository/repo" {
		t.Errorf("keys %+v and %+v", k1, k2)
	}
	missing := target("a", "t3", "gone", "main", "three", 2)
	missing.Spec.ProviderRef = t2.Spec.ProviderRef
	missing.Spec.ProviderRef.Name = "gone"
	if o, _ := Validated(missing, func(ns string, ref v1alpha1.GitProviderReference) (*v1alpha1.GitProvider, string) {
		return nil, "Referenced Flux GitRepository 'a/gone' not found"
	}, nil); o.Reason != v1alpha1.ReasonProviderNotFound || o.Message != "Referenced Flux GitRepository 'a/gone' not found" {
		t.Errorf("missing GitRepository: %+v", o)
	}
}
