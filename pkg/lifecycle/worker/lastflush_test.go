package worker

import (
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	"github.com/configbutler/gitops-reverser/pkg/attribution"
	"github.com/configbutler/gitops-reverser/pkg/lifecycle/mirror"
)

// TestLastFlushWaitsForReports: a stopping worker's last flush waits, up to
// the attribution grace, for the reports of the changes it holds: one whose
// report arrives meanwhile is committed under its author, one no report
// explains under its field manager once the grace is over. The same change
// was committed under its field manager at once before (the shutdown flush
// waited for nothing), which the cluster test's pod deletion caught.
func TestLastFlushWaitsForReports(t *testing.T) {
	w, store, _, tmp, remote := attributedWorker(t, 2*time.Second, time.Hour)

	cmGVR := schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
	change := func(name string, uid types.UID) *mirror.Change {
		o := cm("demo", name, map[string]interface{}{"k": name})
		o.SetUID(uid)
		o.SetResourceVersion("7")
		_ = unstructured.SetNestedSlice(o.Object, []interface{}{map[string]interface{}{"manager": "kubectl-create", "operation": "Update", "time": "2026-01-01T00:00:00Z"}}, "metadata", "managedFields")
		return &mirror.Change{TargetKey: "demo/t", GVR: cmGVR, Path: "v1/configmaps/demo/" + name + ".yaml", Namespace: "demo", UID: uid, ResourceVersion: "7",
			Since: time.Now(), Last: time.Now(), Object: o}
	}
	w.Enqueue(change("late", "ul"), change("never", "un"))
	go func() {
		time.Sleep(300 * time.Millisecond) // the report comes after the stop began
		store.Add(attribution.Report{Resource: cmGVR.GroupResource(), Namespace: "demo", Name: "late", UID: "ul", ResourceVersion: "7",
			Author: attribution.Author{User: "alice", Verb: "create"}, Received: time.Now()})
	}()
	w.finish()
	got := strings.Join(authorLog(t, tmp, remote), "\n")
	for _, want := range []string{
		"alice <alice@kubernetes.invalid> | Mirror <mirror@example.com> | alice,create v1/configmaps/demo/late.yaml",
		"kubectl-create <kubectl-create@kubernetes.invalid> | Mirror <mirror@example.com> | kubectl-create,create,field-manager v1/configmaps/demo/never.yaml",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("commits:\n%s\nwant one:\n%s", got, want)
		}
	}
}
