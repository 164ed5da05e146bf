// Package gitrestore is the registry of GitRestores: strategy and table.
// Clients write the spec once (it is immutable); the server records who
// created it (status.authorizedBy: the user its writes are made as) and
// writes the rest of the status.
package gitrestore

import (
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler"
	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler/validation"
	"github.com/configbutler/gitops-reverser/pkg/registry"
)

// Kind describes GitRestores to the shared strategies.
var Kind = registry.Kind[*configbutler.GitRestore, configbutler.GitRestoreSpec, configbutler.GitRestoreStatus]{
	Namespaced:     true,
	Spec:           func(o *configbutler.GitRestore) *configbutler.GitRestoreSpec { return &o.Spec },
	Status:         func(o *configbutler.GitRestore) *configbutler.GitRestoreStatus { return &o.Status },
	Conditions:     func(s *configbutler.GitRestoreStatus) []metav1.Condition { return s.Conditions },
	AuthorizedBy:   func(s *configbutler.GitRestoreStatus) **configbutler.AuthorizedIdentity { return &s.AuthorizedBy },
	Validate:       validation.ValidateGitRestore,
	ValidateUpdate: validation.ValidateGitRestoreUpdate,
}

// Attrs returns the selectable fields of a GitRestore.
var Attrs = registry.MetaAttrs(true, nil)

// Table prints GitRestores: Name, From, Result, Complete, Age.
var Table = registry.TableConvertor[*configbutler.GitRestore]{
	Columns: []metav1.TableColumnDefinition{
		registry.NameColumn,
		{Name: "From", Type: "string", Description: "The revision, or the target and commit, restored from."},
		{Name: "Result", Type: "string", Description: "Objects by result."},
		{Name: "Complete", Type: "string", Description: "Whether every object was handled."},
		registry.AgeColumn,
		registry.AuthorizedByColumn,
	},
	Rows: func(r *configbutler.GitRestore) [][]interface{} {
		complete := "-"
		for _, c := range r.Status.Conditions {
			if c.Type == "Complete" {
				complete = string(c.Status)
				if c.Reason != "" {
					complete += "/" + c.Reason
				}
			}
		}
		return [][]interface{}{{r.Name, from(r), summary(r.Status.Summary), complete, registry.Age(r.CreationTimestamp),
			registry.AuthorizedBy(r.Status.AuthorizedBy)}}
	},
}

func from(r *configbutler.GitRestore) string {
	if r.Spec.ObjectRevision != "" {
		return "objectrevision/" + r.Spec.ObjectRevision
	}
	if t := r.Spec.Target; t != nil {
		commit := r.Spec.Commit
		if commit == "" {
			commit = "tip"
		}
		return fmt.Sprintf("gittarget/%s@%s", t.Name, commit)
	}
	return ""
}

func summary(s configbutler.RestoreSummary) string {
	return fmt.Sprintf("%d created, %d updated, %d unchanged, %d deleted, %d failed", s.Created, s.Updated, s.Unchanged, s.Deleted, s.Failed)
}
