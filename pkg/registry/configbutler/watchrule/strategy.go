// Package watchrule is the registry of WatchRules: strategy, table and storage.
package watchrule

import (
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler"
	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler/validation"
	"github.com/configbutler/gitops-reverser/pkg/registry"
)

// Kind describes WatchRules to the shared strategies.
var Kind = registry.Kind{
	Namespaced: true,
	Validate: func(obj runtime.Object) field.ErrorList {
		return validation.ValidateWatchRule(obj.(*configbutler.WatchRule))
	},
	ValidateUpdate: func(obj, old runtime.Object) field.ErrorList {
		return validation.ValidateWatchRuleUpdate(obj.(*configbutler.WatchRule), old.(*configbutler.WatchRule))
	},
}

// Attrs returns the selectable fields of a WatchRule.
var Attrs = registry.MetaAttrs(true, nil)
