package gates

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler/v1alpha1"
	"github.com/configbutler/gitops-reverser/pkg/lifecycle/mirror"
)

// claimed gives a target a claim on a place at second age of base.
func claimed(t *v1alpha1.GitTarget, repo, branch, path string, age int) *v1alpha1.GitTarget {
	t.Status.Claim = &v1alpha1.PlaceClaim{Repository: repo, Branch: branch, Path: path, Since: metav1.NewTime(base.Add(time.Duration(age) * time.Second))}
	return t
}

// failedBootstrap marks a target's bootstrap failed for generation gen (its
// own generation is 2).
func failedBootstrap(t *v1alpha1.GitTarget, gen int64) *v1alpha1.GitTarget {
	t.Generation = 2
	t.Status.Conditions = append(t.Status.Conditions, metav1.Condition{Type: v1alpha1.ConditionBootstrapped, Status: metav1.ConditionFalse,
		Reason: v1alpha1.ReasonBootstrapFailed, ObservedGeneration: gen})
	return t
}

// TestValidatedClaims: who keeps a place is decided by claims, then by age,
// and a target whose bootstrap fails holds no place against anyone.
func TestValidatedClaims(t *testing.T) {
	const repo = "github.com/org/repo"
	providers := lookup(
		provider("team", "p", "https://github.com/org/repo.git", "main"),
		provider("tenant", "p", "https://github.com/org/repo.git", "main"),
	)
	cases := []struct {
		name, reason, msgPart string
		t                     *v1alpha1.GitTarget
		others                []*v1alpha1.GitTarget
	}{
		{name: "an old target patched onto a claimed place conflicts itself", reason: "TargetConflict", msgPart: "Another GitTarget",
			t:      claimed(target("tenant", "old", "p", "main", "team/apps", 1), repo, "main", "tenant/own", 2),
			others: []*v1alpha1.GitTarget{claimed(target("team", "apps", "p", "main", "team/apps", 50), repo, "main", "team/apps", 60)}},
		{name: "and the claimed one stays valid", reason: "OK",
			t:      claimed(target("team", "apps", "p", "main", "team/apps", 50), repo, "main", "team/apps", 60),
			others: []*v1alpha1.GitTarget{claimed(target("tenant", "old", "p", "main", "team/apps", 1), repo, "main", "tenant/own", 2)}},
		{name: "a claim on the root holds against a nested newcomer", reason: "TargetConflict",
			t:      target("tenant", "new", "p", "main", "x/y", 1),
			others: []*v1alpha1.GitTarget{claimed(target("team", "root", "p", "main", "", 9), repo, "main", "", 9)}},
		{name: "the earlier claim wins between two claims", reason: "TargetConflict", msgPart: "'team/a'",
			t:      claimed(target("team", "b", "p", "main", "apps", 1), repo, "main", "apps", 20),
			others: []*v1alpha1.GitTarget{claimed(target("team", "a", "p", "main", "apps", 5), repo, "main", "apps", 10)}},
		{name: "a claim on another branch is no claim", reason: "OK",
			t:      target("team", "t", "p", "main", "apps", 1),
			others: []*v1alpha1.GitTarget{claimed(target("team", "o", "p", "main", "apps", 5), repo, "other", "apps", 2)}},
		{name: "a claim on another repository is no claim", reason: "OK",
			t:      target("team", "t", "p", "main", "apps", 1),
			others: []*v1alpha1.GitTarget{claimed(target("team", "o", "p", "main", "apps", 5), "github.com/org/elsewhere", "main", "apps", 2)}},
		{name: "without claims the older proceeds", reason: "TargetConflict", msgPart: "'team/old'",
			t: target("team", "new", "p", "main", "apps", 5), others: []*v1alpha1.GitTarget{target("team", "old", "p", "main", "apps", 1)}},
		{name: "an older squatter whose bootstrap fails holds nothing", reason: "OK",
			t:      target("team", "apps", "p", "main", "apps", 5),
			others: []*v1alpha1.GitTarget{failedBootstrap(target("tenant", "squat", "p", "main", "", 1), 2)}},
		{name: "a bootstrap that failed for an older spec still counts", reason: "TargetConflict",
			t:      target("team", "apps", "p", "main", "apps", 5),
			others: []*v1alpha1.GitTarget{failedBootstrap(target("tenant", "squat", "p", "main", "", 1), 1)}},
		{name: "the failing squatter itself keeps trying (it is older)", reason: "OK",
			t:      failedBootstrap(target("tenant", "squat", "p", "main", "", 1), 2),
			others: []*v1alpha1.GitTarget{target("team", "apps", "p", "main", "apps", 5)}},
		{name: "until the newcomer claimed the place", reason: "TargetConflict",
			t:      failedBootstrap(target("tenant", "squat", "p", "main", "", 1), 2),
			others: []*v1alpha1.GitTarget{claimed(target("team", "apps", "p", "main", "apps", 5), repo, "main", "apps", 7)}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			all := append([]*v1alpha1.GitTarget{tc.t}, tc.others...)
			r, _ := Validated(tc.t, providers, all)
			if r.Reason != tc.reason || !strings.Contains(r.Message, tc.msgPart) {
				t.Fatalf("got %s %q, want %s containing %q", r.Reason, r.Message, tc.reason, tc.msgPart)
			}
			if r.Reason == v1alpha1.ReasonTargetConflict && tc.t.Namespace == "tenant" && strings.Contains(r.Message, "'team/") {
				t.Fatalf("the conflict message names another namespace's target: %q", r.Message)
			}
		})
	}
}

// TestClaimRecorded: a bootstrapped target claims its place; a claim on
// another place goes (also while the new place is not bootstrapped yet); an
// unknown place keeps the claim.
func TestClaimRecorded(t *testing.T) {
	here := mirror.BranchKey{Repo: "r", Branch: "main", Provider: "ns/p"}
	old := &v1alpha1.PlaceClaim{Repository: "r", Branch: "main", Path: "old", Since: metav1.NewTime(base)}
	cases := []struct {
		name         string
		claim        *v1alpha1.PlaceClaim
		place        *mirror.BranchKey
		bootstrapped bool
		want         string // "", "old" or "now"
		changed      bool
	}{
		{"bootstrapped claims", nil, &here, true, "now", true},
		{"not bootstrapped claims nothing", nil, &here, false, "", false},
		{"moved: the old claim goes", old, &here, false, "", true},
		{"moved and bootstrapped: a new claim", old, &here, true, "now", true},
		{"unknown place keeps the claim", old, nil, false, "old", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st := &v1alpha1.GitTargetStatus{}
			if tc.claim != nil {
				c := *tc.claim
				st.Claim = &c
			}
			changed := claim(st, tc.place, "apps", tc.bootstrapped, now)
			got := ""
			switch {
			case st.Claim == nil:
			case st.Claim.Since.Time.Equal(base):
				got = "old"
			case st.Claim.Since.Time.Equal(now) && st.Claim.Path == "apps" && st.Claim.Repository == "r":
				got = "now"
			default:
				got = "?"
			}
			if got != tc.want || changed != tc.changed {
				t.Fatalf("claim = %q (changed %v), want %q (changed %v)", got, changed, tc.want, tc.changed)
			}
			// Once recorded, it holds: evaluating again changes nothing.
			if tc.want == "now" && claim(st, tc.place, "apps", true, now.Add(time.Hour)) {
				t.Fatal("a held claim was written again")
			}
		})
	}
}
