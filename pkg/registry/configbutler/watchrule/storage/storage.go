// Package storage builds the WatchRule storage bundle.
package storage

import (
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/registry/generic"

	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler"
	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler/v1alpha1"
	"github.com/configbutler/gitops-reverser/pkg/registry"
	"github.com/configbutler/gitops-reverser/pkg/registry/configbutler/watchrule"
)

// NewStorage returns the WatchRule storage bundle.
func NewStorage(scheme *runtime.Scheme, optsGetter generic.RESTOptionsGetter, writes registry.Writes) (*registry.Storage, error) {
	return registry.NewStorage(scheme, optsGetter, watchrule.Kind, registry.StoreConfig{
		Resource:    configbutler.Resource("watchrules"),
		Singular:    configbutler.Resource("watchrule"),
		NewFunc:     func() runtime.Object { return &configbutler.WatchRule{} },
		NewListFunc: func() runtime.Object { return &configbutler.WatchRuleList{} },
		NewExternal: func() runtime.Object { return &v1alpha1.WatchRule{} },
		Attrs:       watchrule.Attrs,
		Table:       watchrule.Table,
		Writes:      writes,
	})
}
