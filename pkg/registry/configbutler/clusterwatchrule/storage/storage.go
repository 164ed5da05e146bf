// Package storage builds the ClusterWatchRule storage bundle.
package storage

import (
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/registry/generic"

	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler"
	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler/v1alpha1"
	"github.com/configbutler/gitops-reverser/pkg/registry"
	"github.com/configbutler/gitops-reverser/pkg/registry/configbutler/clusterwatchrule"
)

// NewStorage returns the ClusterWatchRule storage bundle.
func NewStorage(scheme *runtime.Scheme, optsGetter generic.RESTOptionsGetter, writes registry.Writes) (*registry.Storage, error) {
	return registry.NewStorage(scheme, optsGetter, clusterwatchrule.Kind, registry.StoreConfig{
		Resource:    configbutler.Resource("clusterwatchrules"),
		Singular:    configbutler.Resource("clusterwatchrule"),
		NewFunc:     func() runtime.Object { return &configbutler.ClusterWatchRule{} },
		NewListFunc: func() runtime.Object { return &configbutler.ClusterWatchRuleList{} },
		NewExternal: func() runtime.Object { return &v1alpha1.ClusterWatchRule{} },
		Attrs:       clusterwatchrule.Attrs,
		Table:       clusterwatchrule.Table,
		Writes:      writes,
	})
}
