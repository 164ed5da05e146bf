package watchrule

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler"
	"github.com/configbutler/gitops-reverser/pkg/registry"
)

// Table prints WatchRules: Name, Target, Resources, Ready, Age.
var Table = registry.TableConvertor[*configbutler.WatchRule]{
	Columns: []metav1.TableColumnDefinition{
		registry.NameColumn,
		{Name: "Target", Type: "string", Description: "GitTarget written to."},
		{Name: "Resources", Type: "string", Description: "Selected resources."},
		{Name: "Ready", Type: "string", Description: "Whether the target exists and the rules resolve."},
		registry.AgeColumn,
		{Name: "Message", Type: "string", Priority: 1, Description: "Message of the Ready condition."},
		registry.AuthorizedByColumn,
	},
	Rows: func(r *configbutler.WatchRule) [][]interface{} {
		ready, _ := registry.ReadyCells(r.Status.Conditions)
		var rules [][]string
		for _, rule := range r.Spec.Rules {
			rules = append(rules, rule.Resources)
		}
		return [][]interface{}{{
			r.Name, r.Spec.TargetRef.Name, registry.JoinResources(rules), ready,
			registry.Age(r.CreationTimestamp), registry.ReadyMessage(r.Status.Conditions),
			registry.AuthorizedBy(r.Status.AuthorizedBy),
		}}
	},
}
