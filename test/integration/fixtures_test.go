package integration

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler/v1alpha1"
)

func provider(ns, name string) *v1alpha1.GitProvider {
	return &v1alpha1.GitProvider{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: v1alpha1.GitProviderSpec{
			URL:             "https://git.example.com/org/repo.git",
			SecretRef:       &v1alpha1.LocalSecretReference{Name: "git-creds"},
			AllowedBranches: []string{"main", "env/*"},
		},
	}
}

func target(ns, name, providerName, branch, path string) *v1alpha1.GitTarget {
	return &v1alpha1.GitTarget{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: v1alpha1.GitTargetSpec{
			ProviderRef: v1alpha1.GitProviderReference{Name: providerName},
			Branch:      branch,
			Path:        path,
		},
	}
}
