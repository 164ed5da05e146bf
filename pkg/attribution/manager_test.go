package attribution

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// TestFieldManager: kube-apiserver's rule (the fieldManager parameter, else
// the user agent up to its first "/"), bounded and cleaned.
func TestFieldManager(t *testing.T) {
	for _, tc := range []struct{ uri, agent, want string }{
		{"/api/v1/namespaces/a/configmaps/b?fieldManager=flux", "kubectl/v1", "flux"},
		{"/api/v1/namespaces/a/configmaps/b?dryRun=All", "argocd-controller/v2.9 (linux)", "argocd-controller"},
		{"/api/v1/namespaces/a/configmaps/b", "", ""},
		{"/x?fieldManager=%0Aevil%3Cx%3E", "", "evilx"},
		{"/x?fieldManager=%zz", "helm/3", "helm"},
		{"/x?fieldManager=" + strings.Repeat("m", 300), "", strings.Repeat("m", maxManager)},
	} {
		if got := fieldManager(tc.uri, tc.agent); got != tc.want {
			t.Errorf("fieldManager(%q, %q) = %q, want %q", tc.uri, tc.agent, got, tc.want)
		}
	}
}

// TestCleanGroups keeps at most MaxGroups groups.
func TestCleanGroups(t *testing.T) {
	var many []string
	for i := range 100 {
		many = append(many, fmt.Sprintf("g%d", i))
	}
	if got := cleanGroups(many); len(got) != 32 || got[31] != "g31" {
		t.Errorf("kept %d groups: %v", len(got), got)
	}
	if got := cleanGroups([]string{"a\n", "", "b"}); !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("cleanGroups = %v", got)
	}
}
