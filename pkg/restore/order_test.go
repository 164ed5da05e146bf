package restore

import (
	"math/rand"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/runtime/schema"
)

// TestTier: the ordering table.
func TestTier(t *testing.T) {
	for _, tc := range []struct {
		group, kind string
		want        int
	}{
		{"", "Namespace", 0},
		{"apiextensions.k8s.io", "CustomResourceDefinition", 1},
		{"storage.k8s.io", "StorageClass", 2},
		{"scheduling.k8s.io", "PriorityClass", 2},
		{"", "ServiceAccount", 3},
		{"", "ConfigMap", 4},
		{"", "Secret", 5},
		{"", "LimitRange", 6},
		{"", "ResourceQuota", 7},
		{"", "PersistentVolume", 8},
		{"", "PersistentVolumeClaim", 9},
		{"rbac.authorization.k8s.io", "Role", 10},
		{"rbac.authorization.k8s.io", "ClusterRole", 10},
		{"rbac.authorization.k8s.io", "RoleBinding", 11},
		{"rbac.authorization.k8s.io", "ClusterRoleBinding", 11},
		{"networking.k8s.io", "NetworkPolicy", TierOther},
		{"policy", "PodDisruptionBudget", TierOther},
		{"example.com", "Widget", TierOther},
		{"", "Service", 13},
		{"apps", "Deployment", 14},
		{"apps", "StatefulSet", 14},
		{"apps", "DaemonSet", 14},
		{"batch", "Job", 14},
		{"batch", "CronJob", 14},
		{"", "Pod", 14},
		{"admissionregistration.k8s.io", "ValidatingWebhookConfiguration", 15},
		{"apiregistration.k8s.io", "APIService", 15},
		// A kind is its group's: a custom "Secret" is not a Secret.
		{"example.com", "Secret", TierOther},
		{"example.com", "Deployment", TierOther},
	} {
		if got := Tier(schema.GroupKind{Group: tc.group, Kind: tc.kind}); got != tc.want {
			t.Errorf("Tier(%s.%s) = %d, want %d", tc.kind, tc.group, got, tc.want)
		}
	}
}

// TestOrder: whatever order the files come in, they are written in the
// same order: by tier, then group, kind, namespace and name.
func TestOrder(t *testing.T) {
	want := []string{
		"v1 Namespace /a",
		"v1 Namespace /b",
		"apiextensions.k8s.io/v1 CustomResourceDefinition /widgets.example.com",
		"v1 ServiceAccount a/app",
		"v1 ConfigMap a/cfg",
		"v1 ConfigMap b/cfg",
		"v1 Secret a/db",
		"v1 LimitRange a/limits",
		"v1 ResourceQuota a/quota",
		"v1 PersistentVolume /pv1",
		"v1 PersistentVolumeClaim a/data",
		"rbac.authorization.k8s.io/v1 ClusterRole /reader",
		"rbac.authorization.k8s.io/v1 Role a/editor",
		"rbac.authorization.k8s.io/v1 RoleBinding a/editor",
		"example.com/v1 Widget a/w",
		"networking.k8s.io/v1 NetworkPolicy a/deny",
		"policy/v1 PodDisruptionBudget a/pdb",
		"v1 Service a/web",
		"v1 Pod a/debug",
		"apps/v1 DaemonSet a/agent",
		"apps/v1 Deployment a/web",
		"apps/v1 StatefulSet a/db",
		"batch/v1 CronJob a/nightly",
		"batch/v1 Job a/once",
		"admissionregistration.k8s.io/v1 ValidatingWebhookConfiguration /hook",
	}
	var ds []Decoded
	for _, w := range want {
		f := strings.Fields(w)
		ns, name, _ := strings.Cut(f[2], "/")
		ds = append(ds, Decoded{APIVersion: f[0], Kind: f[1], Namespace: ns, Name: name})
	}
	for seed := range int64(5) {
		got := append([]Decoded(nil), ds...)
		rand.New(rand.NewSource(seed)).Shuffle(len(got), func(i, j int) { got[i], got[j] = got[j], got[i] })
		Order(got)
		for i := range got {
			if s := got[i].APIVersion + " " + got[i].Kind + " " + got[i].Namespace + "/" + got[i].Name; s != want[i] {
				t.Fatalf("seed %d: position %d is %s, want %s", seed, i, s, want[i])
			}
		}
	}
}
