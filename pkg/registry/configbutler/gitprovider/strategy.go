// Package gitprovider is the registry of GitProviders: strategy, table and storage.
package gitprovider

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler"
	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler/validation"
	"github.com/configbutler/gitops-reverser/pkg/registry"
)

// Kind describes GitProviders to the shared strategies.
var Kind = registry.Kind[*configbutler.GitProvider, configbutler.GitProviderSpec, configbutler.GitProviderStatus]{
	Namespaced:     true,
	Spec:           func(o *configbutler.GitProvider) *configbutler.GitProviderSpec { return &o.Spec },
	Status:         func(o *configbutler.GitProvider) *configbutler.GitProviderStatus { return &o.Status },
	Conditions:     func(s *configbutler.GitProviderStatus) []metav1.Condition { return s.Conditions },
	AuthorizedBy:   func(s *configbutler.GitProviderStatus) **configbutler.AuthorizedIdentity { return &s.AuthorizedBy },
	Validate:       validation.ValidateGitProvider,
	ValidateUpdate: validation.ValidateGitProviderUpdate,
}

// Attrs returns the selectable fields of a GitProvider.
var Attrs = registry.MetaAttrs(true, nil)
