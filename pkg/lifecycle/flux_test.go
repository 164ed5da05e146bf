package lifecycle

import (
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler/v1alpha1"
	"github.com/configbutler/gitops-reverser/pkg/selection"
)

// TestProviderFromFlux: a GitRepository stands for a provider with its URL
// and Secret and the defaults, marked as Flux's; the served version is the
// preferred one, and none without the CRD.
func TestProviderFromFlux(t *testing.T) {
	repo := &unstructured.Unstructured{Object: map[string]interface{}{
		"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
		"metadata": map[string]interface{}{"namespace": "flux-system", "name": "infra", "uid": "u1", "generation": int64(3)},
		"spec": map[string]interface{}{"url": "https://git.example.com/infra.git", "ref": map[string]interface{}{"branch": "main"},
			"secretRef": map[string]interface{}{"name": "infra-auth"}},
	}}
	p := providerFromFlux(repo)
	if !isFluxProvider(p) || p.Spec.URL != "https://git.example.com/infra.git" || p.Spec.SecretRef == nil || p.Spec.SecretRef.Name != "infra-auth" ||
		p.Namespace != "flux-system" || p.Name != "infra" || p.Generation != 3 || len(p.Spec.AllowedBranches) != 1 || p.Spec.AllowedBranches[0] != "*" ||
		p.Spec.Push.MaxChanges != v1alpha1.DefaultPushMaxChanges || p.Spec.Commit != nil {
		t.Errorf("provider %+v", p)
	}
	delete(repo.Object["spec"].(map[string]interface{}), "secretRef")
	if p := providerFromFlux(repo); p.Spec.SecretRef != nil {
		t.Errorf("a public GitRepository has credentials: %+v", p.Spec.SecretRef)
	}
	if isFluxProvider(&v1alpha1.GitProvider{}) {
		t.Error("a GitProvider taken for Flux's")
	}

	v1 := schema.GroupVersionResource{Group: "source.toolkit.fluxcd.io", Version: "v1", Resource: "gitrepositories"}
	beta := v1
	beta.Version = "v1beta2"
	if gvr, ok := FluxGVR([]selection.APIResource{{GVR: beta}, {GVR: v1, Preferred: true}}); !ok || gvr != v1 {
		t.Errorf("FluxGVR = %v, %v", gvr, ok)
	}
	if _, ok := FluxGVR([]selection.APIResource{{GVR: schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}, Preferred: true}}); ok {
		t.Error("a cluster without Flux serves GitRepositories")
	}
}
