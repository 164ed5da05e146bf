package main

import (
	"context"
	"fmt"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler/v1alpha1"
	"github.com/configbutler/gitops-reverser/pkg/lifecycle/gates"
	"github.com/configbutler/gitops-reverser/pkg/render"
	"github.com/configbutler/gitops-reverser/pkg/selection"
)

// benchFilter measures what the quiet-mirror filters cost per live event, in
// process: deciding whether an object is taken (scope, label selector,
// exclusions, derived objects) and rendering it with fields dropped, against
// the same object through a rule without filters and the default drops only.
// The stream phase's rate is what a filter would have to dent to matter.
func (e *env) benchFilter(_ context.Context) error {
	cm := schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
	resources := []selection.APIResource{{GVR: cm, Kind: "ConfigMap", Namespaced: true, Preferred: true}}
	plain := &v1alpha1.WatchRule{ObjectMeta: metav1.ObjectMeta{Namespace: "bench", Name: "r"}, Spec: v1alpha1.WatchRuleSpec{
		Rules: []v1alpha1.ResourceRule{{APIGroups: []string{""}, Resources: []string{"configmaps"}}}}}
	filtered := plain.DeepCopy()
	filtered.Spec.Rules = []v1alpha1.ResourceRule{{APIGroups: []string{"*"}, Resources: []string{"*"},
		LabelSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "tier", Operator: "In", Values: []string{"web", "api"}}}}}}
	filtered.Spec.Exclude = []v1alpha1.Exclusion{{Names: []string{"*-tmp"}}, {Resources: []string{"configmaps"}, Names: []string{"cache-*"}}}
	clean := gates.CleanerOf([]v1alpha1.IgnoreFields{{Paths: []string{"metadata.annotations[example.com/*]", "data[heartbeat]", "metadata.labels[pod-template-hash]"}}})

	obj := &unstructured.Unstructured{Object: map[string]interface{}{
		"apiVersion": "v1", "kind": "ConfigMap",
		"metadata": map[string]interface{}{"name": "cm-0042", "namespace": "bench", "labels": map[string]interface{}{"tier": "web"},
			"annotations": map[string]interface{}{"example.com/owner": "bench", "team": "perf"}},
		"data": map[string]interface{}{"k": string(make([]byte, 1024)), "heartbeat": "1"},
	}}
	measure := func(rule *v1alpha1.WatchRule, c *render.Cleaner) (float64, error) {
		ts := selection.Resolve(resources, []*v1alpha1.WatchRule{rule}, nil)[cm]
		var err error
		r := testing.Benchmark(func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				if !ts.MatchesObject(obj) {
					err = fmt.Errorf("the object is not taken")
					return
				}
				if _, rerr := render.RenderWith(obj, c); rerr != nil {
					err = rerr
					return
				}
			}
		})
		return float64(r.NsPerOp()) / 1000, err
	}
	base, err := measure(plain, nil)
	if err != nil {
		return err
	}
	with, err := measure(filtered, clean)
	if err != nil {
		return err
	}
	e.res.add(figure{Name: "per live event: take + render, label selector, 2 exclusions, derived check, 3 ignored fields", Unit: "µs",
		Ours: with, Baseline: base, BaselineName: "a rule without filters, default drops"}, 0, 0)
	e.res.note("filter: %.1f µs per event with filters, %.1f µs without: at the stream phase's rate (some hundred updates/s) %.2f%% of one core", with, base, (with-base)*500/1e6*100)
	return nil
}
