package validation

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler"
)

// TestSelectorsExclusionsAndIgnoreFields: bad selectors, exclusions and
// ignored paths are refused with their field paths; good ones pass.
func TestSelectorsExclusionsAndIgnoreFields(t *testing.T) {
	wr := func(mutate func(*configbutler.WatchRule)) *configbutler.WatchRule {
		r := &configbutler.WatchRule{ObjectMeta: metav1.ObjectMeta{Name: "r", Namespace: "ns"}, Spec: configbutler.WatchRuleSpec{
			TargetRef: configbutler.LocalTargetReference{Name: "t"},
			Rules:     []configbutler.ResourceRule{{APIGroups: []string{"*"}, Resources: []string{"*"}}}}}
		mutate(r)
		return r
	}
	good := wr(func(r *configbutler.WatchRule) {
		r.Spec.Rules[0].LabelSelector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "tier", Operator: "In", Values: []string{"web"}}}}
		r.Spec.Exclude = []configbutler.Exclusion{{Resources: []string{"configmaps"}, Names: []string{"*-tmp"}}, {Namespaces: []string{"kube-*"}}}
	})
	if errs := ValidateWatchRule(good); len(errs) != 0 {
		t.Fatalf("good rule: %v", errs)
	}
	expectError(t, ValidateWatchRule(wr(func(r *configbutler.WatchRule) {
		r.Spec.Rules[0].LabelSelector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "tier", Operator: "Near"}}}
	})), "spec.rules[0].labelSelector.matchExpressions[0].operator")
	expectError(t, ValidateWatchRule(wr(func(r *configbutler.WatchRule) {
		r.Spec.Rules[0].LabelSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"bad key!": "x"}}
	})), "spec.rules[0].labelSelector.matchLabels")
	expectError(t, ValidateWatchRule(wr(func(r *configbutler.WatchRule) { r.Spec.Exclude = []configbutler.Exclusion{{}} })), "spec.exclude[0]")
	expectError(t, ValidateWatchRule(wr(func(r *configbutler.WatchRule) {
		r.Spec.Exclude = []configbutler.Exclusion{{Names: []string{"[a-"}}}
	})), "spec.exclude[0].names[0]")
	expectError(t, ValidateWatchRule(wr(func(r *configbutler.WatchRule) {
		r.Spec.Exclude = []configbutler.Exclusion{{APIGroups: []string{"Not_A_Group"}}}
	})), "spec.exclude[0].apiGroups[0]")

	cr := func(scope configbutler.ResourceScope) *configbutler.ClusterWatchRule {
		return &configbutler.ClusterWatchRule{ObjectMeta: metav1.ObjectMeta{Name: "c"}, Spec: configbutler.ClusterWatchRuleSpec{
			TargetRef: configbutler.NamespacedTargetReference{Name: "t", Namespace: "ns"},
			Rules: []configbutler.ClusterResourceRule{{APIGroups: []string{"*"}, Resources: []string{"*"}, Scope: scope,
				NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"mirror": "yes"}}}}}}
	}
	if errs := ValidateClusterWatchRule(cr(configbutler.NamespacedScope)); len(errs) != 0 {
		t.Fatalf("good cluster rule: %v", errs)
	}
	expectError(t, ValidateClusterWatchRule(cr(configbutler.ClusterScope)), "spec.rules[0].namespaceSelector")
	bad := cr(configbutler.NamespacedScope)
	bad.Spec.Rules[0].NamespaceSelector.MatchLabels = map[string]string{"a": "bad value!"}
	expectError(t, ValidateClusterWatchRule(bad), "spec.rules[0].namespaceSelector.matchLabels")

	tg := validTarget()
	tg.Spec.IgnoreFields = []configbutler.IgnoreFields{{APIGroups: []string{"apps"}, Kinds: []string{"Deployment"}, Paths: []string{"spec.replicas", "metadata.annotations[example.com/*]"}}}
	if errs := ValidateGitTarget(tg); len(errs) != 0 {
		t.Fatalf("good ignoreFields: %v", errs)
	}
	tg.Spec.IgnoreFields = []configbutler.IgnoreFields{{Paths: []string{"spec..replicas"}}}
	expectError(t, ValidateGitTarget(tg), "spec.ignoreFields[0].paths[0]")
	tg.Spec.IgnoreFields = []configbutler.IgnoreFields{{}}
	expectError(t, ValidateGitTarget(tg), "spec.ignoreFields[0].paths")
}
