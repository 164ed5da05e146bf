// Package gitprovider is the registry of GitProviders: strategy, table and storage.
package gitprovider

import (
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler"
	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler/validation"
	"github.com/configbutler/gitops-reverser/pkg/registry"
)

// Kind describes GitProviders to the shared strategies.
var Kind = registry.Kind{
	Namespaced: true,
	Validate: func(obj runtime.Object) field.ErrorList {
		return validation.ValidateGitProvider(obj.(*configbutler.GitProvider))
	},
	ValidateUpdate: func(obj, old runtime.Object) field.ErrorList {
		return validation.ValidateGitProviderUpdate(obj.(*configbutler.GitProvider), old.(*configbutler.GitProvider))
	},
}

// Attrs returns the selectable fields of a GitProvider.
var Attrs = registry.MetaAttrs(true, nil)
