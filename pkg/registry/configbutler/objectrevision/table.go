package objectrevision

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler"
	"github.com/configbutler/gitops-reverser/pkg/registry"
)

// table prints `kubectl get objectrevisions`: OBJECT, OPERATION, AUTHOR,
// COMMIT, TARGET, AGE.
var table = registry.TableConvertor[*configbutler.ObjectRevision]{
	Columns: []metav1.TableColumnDefinition{
		{Name: "Name", Type: "string", Format: "name", Description: "Name of the revision", Priority: 1},
		{Name: "Object", Type: "string", Description: "The mirrored object: kind/name"},
		{Name: "Operation", Type: "string", Description: "Create, Update or Delete"},
		{Name: "Author", Type: "string", Description: "Who made the change"},
		{Name: "Commit", Type: "string", Description: "The commit, abbreviated"},
		{Name: "Target", Type: "string", Description: "The GitTarget whose branch holds it"},
		{Name: "Age", Type: "string", Description: "Time since the commit"},
	},
	Rows: func(r *configbutler.ObjectRevision) [][]interface{} {
		commit := r.Commit
		if len(commit) > 7 {
			commit = commit[:7]
		}
		return [][]interface{}{{r.Name, r.Object.Kind + "/" + r.Object.Name, r.Operation, authorOf(r.Author), commit,
			r.Target.Namespace + "/" + r.Target.Name, registry.Age(r.CreationTimestamp)}}
	},
}

// authorOf is the author as a person reads it: the Kubernetes user a report
// named, else the commit's author.
func authorOf(a configbutler.RevisionAuthor) string {
	if a.User != "" {
		return a.User
	}
	return a.Name
}
