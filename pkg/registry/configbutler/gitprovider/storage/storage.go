// Package storage builds the GitProvider storage bundle.
package storage

import (
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/registry/generic"

	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler"
	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler/v1alpha1"
	"github.com/configbutler/gitops-reverser/pkg/registry"
	"github.com/configbutler/gitops-reverser/pkg/registry/configbutler/gitprovider"
)

// NewStorage returns the GitProvider storage bundle.
func NewStorage(scheme *runtime.Scheme, optsGetter generic.RESTOptionsGetter, writes registry.Writes) (*registry.Storage, error) {
	return registry.NewStorage(scheme, optsGetter, gitprovider.Kind, registry.StoreConfig{
		Resource:    configbutler.Resource("gitproviders"),
		Singular:    configbutler.Resource("gitprovider"),
		NewFunc:     func() runtime.Object { return &configbutler.GitProvider{} },
		NewListFunc: func() runtime.Object { return &configbutler.GitProviderList{} },
		NewExternal: func() runtime.Object { return &v1alpha1.GitProvider{} },
		Attrs:       gitprovider.Attrs,
		Table:       gitprovider.Table,
		Writes:      writes,
	})
}
