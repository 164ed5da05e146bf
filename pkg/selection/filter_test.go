package selection

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/sets"

	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler/v1alpha1"
)

func object(apiVersion, kind, ns, name string, mutate ...func(*unstructured.Unstructured)) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]interface{}{"apiVersion": apiVersion, "kind": kind,
		"metadata": map[string]interface{}{"name": name, "namespace": ns}}}
	for _, m := range mutate {
		m(u)
	}
	return u
}

func owned(u *unstructured.Unstructured) {
	yes := true
	u.SetOwnerReferences([]metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "web-1", UID: "u", Controller: &yes}})
}

func gvr(group, version, resource string) schema.GroupVersionResource {
	return schema.GroupVersionResource{Group: group, Version: version, Resource: resource}
}

// TestDerived: the default list of derived objects.
func TestDerived(t *testing.T) {
	cases := []struct {
		gvr  schema.GroupVersionResource
		obj  *unstructured.Unstructured
		want bool
	}{
		{gvr("", "v1", "pods"), object("v1", "Pod", "shop", "web-1-abc", owned), true},
		{gvr("", "v1", "pods"), object("v1", "Pod", "shop", "debug"), false},
		{gvr("apps", "v1", "replicasets"), object("apps/v1", "ReplicaSet", "shop", "web-1", func(u *unstructured.Unstructured) {
			no := false
			u.SetOwnerReferences([]metav1.OwnerReference{{Kind: "Shop", Name: "x", Controller: &no}})
		}), false}, // an owner that is not a controller does not make it derived
		{gvr("", "v1", "configmaps"), object("v1", "ConfigMap", "shop", "kube-root-ca.crt"), true},
		{gvr("", "v1", "configmaps"), object("v1", "ConfigMap", "shop", "settings"), false},
		{gvr("", "v1", "serviceaccounts"), object("v1", "ServiceAccount", "shop", "default"), true},
		{gvr("", "v1", "serviceaccounts"), object("v1", "ServiceAccount", "shop", "deployer"), false},
		{gvr("", "v1", "configmaps"), object("v1", "ConfigMap", "kube-system", "anything"), true},
		{gvr("", "v1", "namespaces"), object("v1", "Namespace", "", "kube-public"), true},
		{gvr("", "v1", "namespaces"), object("v1", "Namespace", "", "default"), true},
		{gvr("", "v1", "namespaces"), object("v1", "Namespace", "", "shop"), false},
		{gvr("", "v1", "services"), object("v1", "Service", "default", "kubernetes"), true},
		{gvr("", "v1", "secrets"), object("v1", "Secret", "shop", "t", func(u *unstructured.Unstructured) { u.Object["type"] = "kubernetes.io/service-account-token" }), true},
		{gvr("rbac.authorization.k8s.io", "v1", "clusterroles"), object("rbac.authorization.k8s.io/v1", "ClusterRole", "", "view",
			func(u *unstructured.Unstructured) {
				u.SetLabels(map[string]string{"kubernetes.io/bootstrapping": "rbac-defaults"})
			}), true},
		{gvr("rbac.authorization.k8s.io", "v1", "clusterroles"), object("rbac.authorization.k8s.io/v1", "ClusterRole", "", "team"), false},
		{gvr("apiregistration.k8s.io", "v1", "apiservices"), object("apiregistration.k8s.io/v1", "APIService", "", "v1.apps",
			func(u *unstructured.Unstructured) {
				u.SetLabels(map[string]string{"kube-aggregator.kubernetes.io/automanaged": "onstart"})
			}), true},
		{gvr("flowcontrol.apiserver.k8s.io", "v1", "flowschemas"), object("flowcontrol.apiserver.k8s.io/v1", "FlowSchema", "", "system-leader-election",
			func(u *unstructured.Unstructured) {
				u.SetAnnotations(map[string]string{"apf.kubernetes.io/autoupdate-spec": "true"})
			}), true},
		{gvr("scheduling.k8s.io", "v1", "priorityclasses"), object("scheduling.k8s.io/v1", "PriorityClass", "", "system-node-critical"), true},
		{gvr("scheduling.k8s.io", "v1", "priorityclasses"), object("scheduling.k8s.io/v1", "PriorityClass", "", "batch-low"), false},
	}
	for _, tc := range cases {
		if got, why := Derived(tc.gvr, tc.obj); (got != NotDerived) != tc.want {
			t.Errorf("%s %s/%s: derived=%v (%s), want %v", tc.gvr.Resource, tc.obj.GetNamespace(), tc.obj.GetName(), got, why, tc.want)
		}
	}
}

var filterResources = []APIResource{
	res("", "v1", "configmaps", true, true),
	res("", "v1", "pods", true, true),
	res("", "v1", "endpoints", true, true),
	res("discovery.k8s.io", "v1", "endpointslices", true, true),
	res("apps", "v1", "deployments", true, true),
	res("apps", "v1", "controllerrevisions", true, true),
}

// TestClauses: what a rule's clause takes within its scope.
func TestClauses(t *testing.T) {
	wild := func(mutate ...func(*v1alpha1.ResourceRule)) Selection {
		r := v1alpha1.ResourceRule{APIGroups: []string{"*"}, Resources: []string{"*"}}
		for _, m := range mutate {
			m(&r)
		}
		return Resolve(filterResources, []*v1alpha1.WatchRule{wr("shop", r)}, nil)
	}
	// A wildcard skips derived types unless the rule opts in.
	if s := wild(); s[gvr("", "v1", "endpoints")] != nil || s[gvr("discovery.k8s.io", "v1", "endpointslices")] != nil || s[gvr("apps", "v1", "controllerrevisions")] != nil || s[gvr("", "v1", "pods")] == nil {
		t.Errorf("wildcard selects %v", s.Names())
	}
	if s := wild(func(r *v1alpha1.ResourceRule) { r.IncludeDerived = true }); s[gvr("", "v1", "endpoints")] == nil {
		t.Errorf("includeDerived selects %v", s.Names())
	}
	pods := gvr("", "v1", "pods")
	ownedPod, standalone := object("v1", "Pod", "shop", "web-1-x", owned), object("v1", "Pod", "shop", "debug")
	if ts := wild()[pods]; ts.MatchesObject(ownedPod) || !ts.MatchesObject(standalone) {
		t.Error("under a wildcard an owned Pod is mirrored, or a standalone one is not")
	}
	named := Resolve(filterResources, []*v1alpha1.WatchRule{wr("shop", v1alpha1.ResourceRule{APIGroups: []string{""}, Resources: []string{"pods"}})}, nil)
	if !named[pods].MatchesObject(ownedPod) {
		t.Error("a rule that names pods does not mirror owned ones")
	}
	cms := Resolve(filterResources, []*v1alpha1.WatchRule{wr("shop", v1alpha1.ResourceRule{APIGroups: []string{""}, Resources: []string{"configmaps"}})}, nil)
	rootCA := object("v1", "ConfigMap", "shop", "kube-root-ca.crt")
	if cms[gvr("", "v1", "configmaps")].MatchesObject(rootCA) {
		t.Error("naming configmaps mirrors the generated kube-root-ca.crt")
	}
	optIn := Resolve(filterResources, []*v1alpha1.WatchRule{wr("shop", v1alpha1.ResourceRule{APIGroups: []string{""}, Resources: []string{"configmaps"}, IncludeDerived: true})}, nil)
	if !optIn[gvr("", "v1", "configmaps")].MatchesObject(rootCA) {
		t.Error("includeDerived does not mirror kube-root-ca.crt")
	}
	// Labels.
	labelled := wild(func(r *v1alpha1.ResourceRule) {
		r.LabelSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"mirror": "yes"}}
	})[gvr("", "v1", "configmaps")]
	yes := object("v1", "ConfigMap", "shop", "a", func(u *unstructured.Unstructured) { u.SetLabels(map[string]string{"mirror": "yes"}) })
	if !labelled.MatchesObject(yes) || labelled.MatchesObject(object("v1", "ConfigMap", "shop", "b")) {
		t.Error("label selector")
	}
	// Exclusions, from the spec.
	rule := wr("shop", v1alpha1.ResourceRule{APIGroups: []string{""}, Resources: []string{"configmaps"}})
	rule.Spec.Exclude = []v1alpha1.Exclusion{{Resources: []string{"configmaps"}, Names: []string{"*-tmp"}}}
	ex := Resolve(filterResources, []*v1alpha1.WatchRule{rule}, nil)[gvr("", "v1", "configmaps")]
	if ex.MatchesObject(object("v1", "ConfigMap", "shop", "build-tmp")) || !ex.MatchesObject(object("v1", "ConfigMap", "shop", "build")) {
		t.Error("exclusion by name")
	}
	// Outside the scope nothing matches, whatever the clause.
	if ex.MatchesObject(object("v1", "ConfigMap", "other", "build")) {
		t.Error("another namespace matches")
	}
	// A namespace selector: the scope is every namespace, the clause takes the
	// matched ones; labelling another changes the fingerprint.
	cr := cwr(v1alpha1.ClusterResourceRule{APIGroups: []string{""}, Resources: []string{"configmaps"}, Scope: v1alpha1.NamespacedScope,
		NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"mirror": "yes"}}})
	rules := ClusterRulesOf(cr)
	rules[0].SelectedNamespaces = sets.New("a")
	s1 := rules[0].Select(filterResources)
	ts := s1[gvr("", "v1", "configmaps")]
	if !ts.AllNamespaces || !ts.Matches("b") || ts.MatchesObject(object("v1", "ConfigMap", "b", "x")) || !ts.MatchesObject(object("v1", "ConfigMap", "a", "x")) {
		t.Errorf("namespace selector: %+v", ts)
	}
	rules[0].SelectedNamespaces = sets.New("a", "b")
	if s2 := rules[0].Select(filterResources); s1.Fingerprint() == s2.Fingerprint() {
		t.Error("a namespace entering the selection does not change the fingerprint")
	}
	// Two rules: an object taken by either is mirrored.
	both := Merge(wild(func(r *v1alpha1.ResourceRule) {
		r.LabelSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"mirror": "yes"}}
	}), named)
	if !both[pods].MatchesObject(ownedPod) {
		t.Error("merged clauses: the named rule's clause does not take the owned pod")
	}
}
