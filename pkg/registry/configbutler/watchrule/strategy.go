// Package watchrule is the registry of WatchRules: strategy, table and storage.
package watchrule

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler"
	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler/validation"
	"github.com/configbutler/gitops-reverser/pkg/registry"
)

// Kind describes WatchRules to the shared strategies.
var Kind = registry.Kind[*configbutler.WatchRule, configbutler.WatchRuleSpec, configbutler.WatchRuleStatus]{
	Namespaced:     true,
	Spec:           func(o *configbutler.WatchRule) *configbutler.WatchRuleSpec { return &o.Spec },
	Status:         func(o *configbutler.WatchRule) *configbutler.WatchRuleStatus { return &o.Status },
	Conditions:     func(s *configbutler.WatchRuleStatus) []metav1.Condition { return s.Conditions },
	AuthorizedBy:   func(s *configbutler.WatchRuleStatus) **configbutler.AuthorizedIdentity { return &s.AuthorizedBy },
	Validate:       validation.ValidateWatchRule,
	ValidateUpdate: validation.ValidateWatchRuleUpdate,
}

// Attrs returns the selectable fields of a WatchRule.
var Attrs = registry.MetaAttrs(true, nil)
