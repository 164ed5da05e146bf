package gitprovider

import (
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler"
	"github.com/configbutler/gitops-reverser/pkg/registry"
)

// Table prints GitProviders: Name, URL, Branches, Ready, Reason, Age; -o wide adds
// the Secret and the Ready message.
var Table = registry.TableConvertor[*configbutler.GitProvider]{
	Columns: []metav1.TableColumnDefinition{
		registry.NameColumn,
		{Name: "URL", Type: "string", Description: "Repository URL."},
		{Name: "Branches", Type: "string", Description: "Allowed branch patterns."},
		{Name: "Ready", Type: "string", Description: "Whether credentials are present and the remote answers."},
		{Name: "Reason", Type: "string", Description: "Reason of the Ready condition."},
		registry.AgeColumn,
		{Name: "Secret", Type: "string", Priority: 1, Description: "Credentials Secret."},
		{Name: "Message", Type: "string", Priority: 1, Description: "Message of the Ready condition."},
		registry.AuthorizedByColumn,
	},
	Rows: func(p *configbutler.GitProvider) [][]interface{} {
		ready, reason := registry.ReadyCells(p.Status.Conditions)
		secret := "<none>"
		if p.Spec.SecretRef != nil {
			secret = p.Spec.SecretRef.Name
		}
		return [][]interface{}{{
			p.Name, p.Spec.URL, strings.Join(p.Spec.AllowedBranches, ","), ready, reason,
			registry.Age(p.CreationTimestamp), secret, registry.ReadyMessage(p.Status.Conditions),
			registry.AuthorizedBy(p.Status.AuthorizedBy),
		}}
	},
}
