package integration

import (
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler/v1alpha1"
)

// TestClientStatusIsDiscardedAndSubresourcesAreReadOnly: status sent on create or
// update is dropped; PUT and PATCH of status, gates and snapshot are refused.
func TestClientStatusIsDiscardedAndSubresourcesAreReadOnly(t *testing.T) {
	c, ns := srv.Client.ConfigbutlerV1alpha1(), namespace()
	ctx := testContext(t)
	forged := target(ns, "t", "p", "main", "a")
	forged.Status = v1alpha1.GitTargetStatus{
		LastCommit: "deadbeef",
		Conditions: []metav1.Condition{
			{Type: "Ready", Status: "True", Reason: "OK", Message: "forged", LastTransitionTime: metav1.Now()},
			{Type: "Validated", Status: "True", Reason: "OK", Message: "forged", LastTransitionTime: metav1.Now()},
		},
	}
	tg, err := c.GitTargets(ns).Create(ctx, forged, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	assertNotForged := func(tg *v1alpha1.GitTarget) {
		t.Helper()
		if tg.Status.LastCommit != "" || len(tg.Status.Conditions) != 1 || tg.Status.Conditions[0].Status != "False" {
			t.Fatalf("client status was stored: %+v", tg.Status)
		}
	}
	assertNotForged(tg)
	tg.Status = forged.Status
	tg.Spec.Path = "b"
	if tg, err = c.GitTargets(ns).Update(ctx, tg, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	assertNotForged(tg)
	got, _ := c.GitTargets(ns).Get(ctx, "t", metav1.GetOptions{})
	assertNotForged(got)

	// The generated UpdateStatus hits PUT .../status: no route for it.
	got.Status = forged.Status
	if _, err := c.GitTargets(ns).UpdateStatus(ctx, got, metav1.UpdateOptions{}); !apierrors.IsMethodNotSupported(err) {
		t.Errorf("UpdateStatus: %v, want MethodNotAllowed", err)
	}
	for _, sub := range []string{"status", "gates", "snapshot"} {
		rc := srv.Client.ConfigbutlerV1alpha1().RESTClient()
		err := rc.Patch(types.MergePatchType).Namespace(ns).Resource("gittargets").Name("t").SubResource(sub).
			Body([]byte(`{"status":{"lastCommit":"x"}}`)).Do(ctx).Error()
		if !apierrors.IsMethodNotSupported(err) {
			t.Errorf("PATCH %s: %v, want MethodNotAllowed", sub, err)
		}
		err = rc.Put().Namespace(ns).Resource("gittargets").Name("t").SubResource(sub).
			Body([]byte(`{"apiVersion":"configbutler.ai/v1alpha1","kind":"GitTarget","metadata":{"name":"t"}}`)).Do(ctx).Error()
		if !apierrors.IsMethodNotSupported(err) {
			t.Errorf("PUT %s: %v, want MethodNotAllowed", sub, err)
		}
	}
	for _, sub := range []string{"gitproviders", "watchrules"} {
		err := srv.Client.ConfigbutlerV1alpha1().RESTClient().Patch(types.MergePatchType).Namespace(ns).Resource(sub).
			Name("x").SubResource("status").Body([]byte(`{}`)).Do(ctx).Error()
		if !apierrors.IsMethodNotSupported(err) {
			t.Errorf("PATCH %s/status: %v, want MethodNotAllowed", sub, err)
		}
	}
	got2, _ := c.GitTargets(ns).Get(ctx, "t", metav1.GetOptions{})
	assertNotForged(got2)
}

func TestDiscoveryListsReadOnlySubresources(t *testing.T) {
	list, err := srv.Client.Discovery().ServerResourcesForGroupVersion("configbutler.ai/v1alpha1")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"gittargets/status": "GitTarget", "gittargets/gates": "GitTargetGates", "gittargets/snapshot": "GitTargetSnapshot",
		"gitproviders/status": "GitProvider", "watchrules/status": "WatchRule", "clusterwatchrules/status": "ClusterWatchRule",
	}
	seen := 0
	for _, r := range list.APIResources {
		if kind, ok := want[r.Name]; ok {
			seen++
			if r.Kind != kind || len(r.Verbs) != 1 || r.Verbs[0] != "get" {
				t.Errorf("%s: kind %s verbs %v, want %s [get]", r.Name, r.Kind, r.Verbs, kind)
			}
		}
		if r.Name == "clusterwatchrules" && r.Namespaced {
			t.Error("clusterwatchrules is namespaced")
		}
	}
	if seen != len(want) {
		t.Errorf("found %d of %d subresources", seen, len(want))
	}
}
