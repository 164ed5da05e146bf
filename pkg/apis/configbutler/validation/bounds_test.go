package validation

import (
	"fmt"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler"
)

// list is n distinct strings made by f.
func list(n int, f func(i int) string) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = f(i)
	}
	return out
}

func groups(n int) []string {
	return list(n, func(i int) string { return fmt.Sprintf("g%d.example.com", i) })
}
func resources(n int) []string {
	return list(n, func(i int) string { return fmt.Sprintf("things%d", i) })
}
func versions(n int) []string { return list(n, func(i int) string { return fmt.Sprintf("v%d", i+1) }) }
func globs(n int) []string    { return list(n, func(i int) string { return fmt.Sprintf("x%d-*", i) }) }

// bound is one limit: mutate(obj, n) sets the bounded thing to n entries (or
// n bytes); at max it is accepted, at max+1 refused with one error of type
// typ at path.
type bound struct {
	name   string
	max    int
	mutate func(n int) field.ErrorList
	path   string
	typ    field.ErrorType
}

func checkBounds(t *testing.T, bounds []bound) {
	t.Helper()
	for _, b := range bounds {
		t.Run(b.name, func(t *testing.T) {
			if errs := b.mutate(b.max); len(errs) != 0 {
				t.Fatalf("at the limit (%d): %v", b.max, errs)
			}
			errs := b.mutate(b.max + 1)
			if len(errs) != 1 || errs[0].Field != b.path || errs[0].Type != b.typ {
				t.Fatalf("one over the limit (%d): %v, want one %s at %s", b.max+1, errs, b.typ, b.path)
			}
		})
	}
}

func watchRule(mutate func(r *configbutler.WatchRule)) field.ErrorList {
	r := &configbutler.WatchRule{ObjectMeta: metav1.ObjectMeta{Name: "r", Namespace: "ns"}, Spec: configbutler.WatchRuleSpec{
		TargetRef: configbutler.LocalTargetReference{Name: "t"},
		Rules:     []configbutler.ResourceRule{{APIGroups: []string{"*"}, Resources: []string{"*"}}}}}
	mutate(r)
	return ValidateWatchRule(r)
}

func clusterWatchRule(mutate func(r *configbutler.ClusterWatchRule)) field.ErrorList {
	r := &configbutler.ClusterWatchRule{ObjectMeta: metav1.ObjectMeta{Name: "r"}, Spec: configbutler.ClusterWatchRuleSpec{
		TargetRef: configbutler.NamespacedTargetReference{Name: "t", Namespace: "ns"},
		Rules:     []configbutler.ClusterResourceRule{{APIGroups: []string{"*"}, Resources: []string{"*"}, Scope: configbutler.NamespacedScope}}}}
	mutate(r)
	return ValidateClusterWatchRule(r)
}

func labels(n int) map[string]string {
	m := map[string]string{}
	for i := range n {
		m[fmt.Sprintf("k%d", i)] = "v"
	}
	return m
}

func expressions(n int) []metav1.LabelSelectorRequirement {
	out := make([]metav1.LabelSelectorRequirement, n)
	for i := range out {
		out[i] = metav1.LabelSelectorRequirement{Key: fmt.Sprintf("k%d", i), Operator: metav1.LabelSelectorOpExists}
	}
	return out
}

// TestRuleBounds: spec.rules, every list of a rule, label and namespace
// selectors, spec.exclude and every list and glob of an exclusion are
// bounded, in WatchRules and ClusterWatchRules alike.
func TestRuleBounds(t *testing.T) {
	rule := func(r configbutler.ResourceRule) func(*configbutler.WatchRule) {
		return func(w *configbutler.WatchRule) { w.Spec.Rules = []configbutler.ResourceRule{r} }
	}
	exclusion := func(e configbutler.Exclusion) func(*configbutler.WatchRule) {
		return func(w *configbutler.WatchRule) { w.Spec.Exclude = []configbutler.Exclusion{e} }
	}
	checkBounds(t, []bound{
		{"rules", maxRules, func(n int) field.ErrorList {
			return watchRule(func(r *configbutler.WatchRule) {
				r.Spec.Rules = make([]configbutler.ResourceRule, n)
				for i := range r.Spec.Rules {
					r.Spec.Rules[i] = configbutler.ResourceRule{APIGroups: []string{""}, Resources: []string{fmt.Sprintf("things%d", i)}}
				}
			})
		}, "spec.rules", field.ErrorTypeTooMany},
		{"apiGroups", maxListEntries, func(n int) field.ErrorList {
			return watchRule(rule(configbutler.ResourceRule{APIGroups: groups(n), Resources: []string{"*"}}))
		}, "spec.rules[0].apiGroups", field.ErrorTypeTooMany},
		{"apiVersions", maxListEntries, func(n int) field.ErrorList {
			return watchRule(rule(configbutler.ResourceRule{APIGroups: []string{"*"}, APIVersions: versions(n), Resources: []string{"*"}}))
		}, "spec.rules[0].apiVersions", field.ErrorTypeTooMany},
		{"resources", maxListEntries, func(n int) field.ErrorList {
			return watchRule(rule(configbutler.ResourceRule{APIGroups: []string{"*"}, Resources: resources(n)}))
		}, "spec.rules[0].resources", field.ErrorTypeTooMany},
		{"matchLabels", maxListEntries, func(n int) field.ErrorList {
			return watchRule(rule(configbutler.ResourceRule{APIGroups: []string{"*"}, Resources: []string{"*"},
				LabelSelector: &metav1.LabelSelector{MatchLabels: labels(n)}}))
		}, "spec.rules[0].labelSelector.matchLabels", field.ErrorTypeTooMany},
		{"matchExpressions", maxListEntries, func(n int) field.ErrorList {
			return watchRule(rule(configbutler.ResourceRule{APIGroups: []string{"*"}, Resources: []string{"*"},
				LabelSelector: &metav1.LabelSelector{MatchExpressions: expressions(n)}}))
		}, "spec.rules[0].labelSelector.matchExpressions", field.ErrorTypeTooMany},
		{"expression values", maxListEntries, func(n int) field.ErrorList {
			return watchRule(rule(configbutler.ResourceRule{APIGroups: []string{"*"}, Resources: []string{"*"},
				LabelSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
					{Key: "tier", Operator: metav1.LabelSelectorOpIn, Values: versions(n)}}}}))
		}, "spec.rules[0].labelSelector.matchExpressions[0].values", field.ErrorTypeTooMany},
		{"exclude", maxExclusions, func(n int) field.ErrorList {
			return watchRule(func(r *configbutler.WatchRule) {
				r.Spec.Exclude = make([]configbutler.Exclusion, n)
				for i := range r.Spec.Exclude {
					r.Spec.Exclude[i] = configbutler.Exclusion{Names: []string{fmt.Sprintf("x%d", i)}}
				}
			})
		}, "spec.exclude", field.ErrorTypeTooMany},
		{"exclusion apiGroups", maxListEntries, func(n int) field.ErrorList {
			return watchRule(exclusion(configbutler.Exclusion{APIGroups: groups(n)}))
		}, "spec.exclude[0].apiGroups", field.ErrorTypeTooMany},
		{"exclusion resources", maxListEntries, func(n int) field.ErrorList {
			return watchRule(exclusion(configbutler.Exclusion{Resources: resources(n)}))
		}, "spec.exclude[0].resources", field.ErrorTypeTooMany},
		{"exclusion namespaces", maxListEntries, func(n int) field.ErrorList {
			return watchRule(exclusion(configbutler.Exclusion{Namespaces: globs(n)}))
		}, "spec.exclude[0].namespaces", field.ErrorTypeTooMany},
		{"exclusion names", maxListEntries, func(n int) field.ErrorList {
			return watchRule(exclusion(configbutler.Exclusion{Names: globs(n)}))
		}, "spec.exclude[0].names", field.ErrorTypeTooMany},
		{"exclusion name length", maxGlobLength, func(n int) field.ErrorList {
			return watchRule(exclusion(configbutler.Exclusion{Names: []string{strings.Repeat("a", n)}}))
		}, "spec.exclude[0].names[0]", field.ErrorTypeTooLong},
		{"exclusion namespace length", maxGlobLength, func(n int) field.ErrorList {
			return watchRule(exclusion(configbutler.Exclusion{Namespaces: []string{strings.Repeat("*", n)}}))
		}, "spec.exclude[0].namespaces[0]", field.ErrorTypeTooLong},
		{"cluster rules", maxRules, func(n int) field.ErrorList {
			return clusterWatchRule(func(r *configbutler.ClusterWatchRule) {
				r.Spec.Rules = make([]configbutler.ClusterResourceRule, n)
				for i := range r.Spec.Rules {
					r.Spec.Rules[i] = configbutler.ClusterResourceRule{APIGroups: []string{""}, Resources: []string{fmt.Sprintf("things%d", i)}, Scope: configbutler.ClusterScope}
				}
			})
		}, "spec.rules", field.ErrorTypeTooMany},
		{"cluster rule resources", maxListEntries, func(n int) field.ErrorList {
			return clusterWatchRule(func(r *configbutler.ClusterWatchRule) { r.Spec.Rules[0].Resources = resources(n) })
		}, "spec.rules[0].resources", field.ErrorTypeTooMany},
		{"namespaceSelector", maxListEntries, func(n int) field.ErrorList {
			return clusterWatchRule(func(r *configbutler.ClusterWatchRule) {
				r.Spec.Rules[0].NamespaceSelector = &metav1.LabelSelector{MatchLabels: labels(n)}
			})
		}, "spec.rules[0].namespaceSelector.matchLabels", field.ErrorTypeTooMany},
		{"cluster exclude", maxExclusions, func(n int) field.ErrorList {
			return clusterWatchRule(func(r *configbutler.ClusterWatchRule) {
				r.Spec.Exclude = make([]configbutler.Exclusion, n)
				for i := range r.Spec.Exclude {
					r.Spec.Exclude[i] = configbutler.Exclusion{Namespaces: []string{fmt.Sprintf("x%d", i)}}
				}
			})
		}, "spec.exclude", field.ErrorTypeTooMany},
	})
}

// TestTargetBounds: spec.ignoreFields (entries, their lists, path length and
// [*] per path) and spec.branch are bounded.
func TestTargetBounds(t *testing.T) {
	target := func(mutate func(s *configbutler.GitTargetSpec)) field.ErrorList {
		g := validTarget()
		mutate(&g.Spec)
		return ValidateGitTarget(g)
	}
	one := func(f configbutler.IgnoreFields) field.ErrorList {
		return target(func(s *configbutler.GitTargetSpec) { s.IgnoreFields = []configbutler.IgnoreFields{f} })
	}
	checkBounds(t, []bound{
		{"ignoreFields", maxIgnoreFields, func(n int) field.ErrorList {
			return target(func(s *configbutler.GitTargetSpec) {
				s.IgnoreFields = make([]configbutler.IgnoreFields, n)
				for i := range s.IgnoreFields {
					s.IgnoreFields[i] = configbutler.IgnoreFields{Paths: []string{fmt.Sprintf("spec.f%d", i)}}
				}
			})
		}, "spec.ignoreFields", field.ErrorTypeTooMany},
		{"paths", maxListEntries, func(n int) field.ErrorList {
			return one(configbutler.IgnoreFields{Paths: list(n, func(i int) string { return fmt.Sprintf("spec.f%d", i) })})
		}, "spec.ignoreFields[0].paths", field.ErrorTypeTooMany},
		{"apiGroups", maxListEntries, func(n int) field.ErrorList {
			return one(configbutler.IgnoreFields{APIGroups: groups(n), Paths: []string{"spec.replicas"}})
		}, "spec.ignoreFields[0].apiGroups", field.ErrorTypeTooMany},
		{"kinds", maxListEntries, func(n int) field.ErrorList {
			return one(configbutler.IgnoreFields{Kinds: list(n, func(i int) string { return fmt.Sprintf("Kind%d", i) }), Paths: []string{"spec.replicas"}})
		}, "spec.ignoreFields[0].kinds", field.ErrorTypeTooMany},
		{"kind length", maxKindLength, func(n int) field.ErrorList {
			return one(configbutler.IgnoreFields{Kinds: []string{strings.Repeat("K", n)}, Paths: []string{"spec.replicas"}})
		}, "spec.ignoreFields[0].kinds[0]", field.ErrorTypeTooLong},
		{"path length", maxFieldPathLength, func(n int) field.ErrorList {
			return one(configbutler.IgnoreFields{Paths: []string{"spec." + strings.Repeat("a", n-len("spec."))}})
		}, "spec.ignoreFields[0].paths[0]", field.ErrorTypeTooLong},
		{"[*] per path", maxPathWildcards, func(n int) field.ErrorList {
			return one(configbutler.IgnoreFields{Paths: []string{"spec" + strings.Repeat(".l[*]", n)}})
		}, "spec.ignoreFields[0].paths[0]", field.ErrorTypeInvalid},
		{"branch", maxBranchLength, func(n int) field.ErrorList {
			return target(func(s *configbutler.GitTargetSpec) { s.Branch = strings.Repeat("b", n) })
		}, "spec.branch", field.ErrorTypeTooLong},
	})
}

// TestProviderBounds: spec.allowedBranches (count and length), spec.url, the
// committer identity and the push policy are bounded.
func TestProviderBounds(t *testing.T) {
	provider := func(mutate func(s *configbutler.GitProviderSpec)) field.ErrorList {
		p := validProvider()
		mutate(&p.Spec)
		return ValidateGitProvider(p)
	}
	checkBounds(t, []bound{
		{"allowedBranches", maxAllowedBranches, func(n int) field.ErrorList {
			return provider(func(s *configbutler.GitProviderSpec) {
				s.AllowedBranches = list(n, func(i int) string { return fmt.Sprintf("env/%d", i) })
			})
		}, "spec.allowedBranches", field.ErrorTypeTooMany},
		{"allowedBranches length", maxBranchLength, func(n int) field.ErrorList {
			return provider(func(s *configbutler.GitProviderSpec) { s.AllowedBranches = []string{strings.Repeat("b", n)} })
		}, "spec.allowedBranches[0]", field.ErrorTypeTooLong},
		{"url", maxURLLength, func(n int) field.ErrorList {
			return provider(func(s *configbutler.GitProviderSpec) {
				s.URL = "https://github.com/org/" + strings.Repeat("r", n-len("https://github.com/org/"))
			})
		}, "spec.url", field.ErrorTypeTooLong},
		{"committerName", maxIdentityLength, func(n int) field.ErrorList {
			return provider(func(s *configbutler.GitProviderSpec) {
				s.Commit = &configbutler.CommitSpec{CommitterName: strings.Repeat("n", n)}
			})
		}, "spec.commit.committerName", field.ErrorTypeTooLong},
		{"committerEmail", maxIdentityLength, func(n int) field.ErrorList {
			return provider(func(s *configbutler.GitProviderSpec) {
				s.Commit = &configbutler.CommitSpec{CommitterEmail: strings.Repeat("e", n-len("@example.com")) + "@example.com"}
			})
		}, "spec.commit.committerEmail", field.ErrorTypeTooLong},
		{"maxChanges", maxPushChanges, func(n int) field.ErrorList {
			return provider(func(s *configbutler.GitProviderSpec) { s.Push.MaxChanges = int32(n) })
		}, "spec.push.maxChanges", field.ErrorTypeInvalid},
	})

	interval := func(d time.Duration) field.ErrorList {
		return provider(func(s *configbutler.GitProviderSpec) { s.Push.Interval = metav1.Duration{Duration: d} })
	}
	for _, ok := range []time.Duration{time.Second, 5 * time.Second, time.Hour} {
		if errs := interval(ok); len(errs) != 0 {
			t.Errorf("interval %v: %v", ok, errs)
		}
	}
	for _, bad := range []time.Duration{time.Nanosecond, 999 * time.Millisecond, time.Hour + time.Second, -time.Second} {
		errs := interval(bad)
		if len(errs) != 1 || errs[0].Field != "spec.push.interval" || !strings.Contains(errs[0].Detail, "must be between 1s and 1h0m0s") {
			t.Errorf("interval %v: %v", bad, errs)
		}
	}
}

// TestBoundsAreCheap: a list far over its bound makes one error, not one per
// entry, and its entries are not validated one by one.
func TestBoundsAreCheap(t *testing.T) {
	bad := []string{"Not_A_Group"}
	errs := watchRule(func(r *configbutler.WatchRule) {
		r.Spec.Exclude = make([]configbutler.Exclusion, 10_000)
		for i := range r.Spec.Exclude {
			r.Spec.Exclude[i] = configbutler.Exclusion{APIGroups: bad}
		}
		r.Spec.Rules[0].Resources = append(list(10_000, func(int) string { return "Bad/Resource" }), "*")
	})
	if len(errs) != 2 || errs[0].Field != "spec.rules[0].resources" || errs[1].Field != "spec.exclude" {
		t.Fatalf("got %d errors (%v), want spec.rules[0].resources and spec.exclude TooMany", len(errs), errs[:min(len(errs), 3)])
	}
}
