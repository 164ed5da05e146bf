// Package clusterwatchrule is the registry of ClusterWatchRules: strategy, table and storage.
package clusterwatchrule

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler"
	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler/validation"
	"github.com/configbutler/gitops-reverser/pkg/registry"
)

// Kind describes ClusterWatchRules to the shared strategies.
var Kind = registry.Kind[*configbutler.ClusterWatchRule, configbutler.ClusterWatchRuleSpec, configbutler.WatchRuleStatus]{
	Namespaced:     false,
	Spec:           func(o *configbutler.ClusterWatchRule) *configbutler.ClusterWatchRuleSpec { return &o.Spec },
	Status:         func(o *configbutler.ClusterWatchRule) *configbutler.WatchRuleStatus { return &o.Status },
	Conditions:     func(s *configbutler.WatchRuleStatus) []metav1.Condition { return s.Conditions },
	AuthorizedBy:   func(s *configbutler.WatchRuleStatus) **configbutler.AuthorizedIdentity { return &s.AuthorizedBy },
	Validate:       validation.ValidateClusterWatchRule,
	ValidateUpdate: validation.ValidateClusterWatchRuleUpdate,
}

// Attrs returns the selectable fields of a ClusterWatchRule.
var Attrs = registry.MetaAttrs(false, nil)
