// Package clusterwatchrule is the registry of ClusterWatchRules: strategy, table and storage.
package clusterwatchrule

import (
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler"
	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler/validation"
	"github.com/configbutler/gitops-reverser/pkg/registry"
)

// Kind describes ClusterWatchRules to the shared strategies.
var Kind = registry.Kind{
	Namespaced: false,
	Validate: func(obj runtime.Object) field.ErrorList {
		return validation.ValidateClusterWatchRule(obj.(*configbutler.ClusterWatchRule))
	},
	ValidateUpdate: func(obj, old runtime.Object) field.ErrorList {
		return validation.ValidateClusterWatchRuleUpdate(obj.(*configbutler.ClusterWatchRule), old.(*configbutler.ClusterWatchRule))
	},
}

// Attrs returns the selectable fields of a ClusterWatchRule.
var Attrs = registry.MetaAttrs(false, nil)
