package gittarget

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler"
	"github.com/configbutler/gitops-reverser/pkg/conditions"
	"github.com/configbutler/gitops-reverser/pkg/registry"
)

// ShortHash abbreviates a commit hash as git log --oneline does.
func ShortHash(h string) string {
	if len(h) > 7 {
		return h[:7]
	}
	return h
}

func orNone(s string) string {
	if s == "" {
		return "<none>"
	}
	return s
}

// Table prints GitTargets: Name, Provider, Branch, Path, Ready, Reason (of the
// blocking gate, as Ready's), Last Commit, Age; -o wide adds the blocking gate
// and its message.
var Table = registry.TableConvertor[*configbutler.GitTarget]{
	Columns: []metav1.TableColumnDefinition{
		registry.NameColumn,
		{Name: "Provider", Type: "string", Description: "GitProvider written to."},
		{Name: "Branch", Type: "string", Description: "Branch written to."},
		{Name: "Path", Type: "string", Description: "Path in the repository."},
		{Name: "Ready", Type: "string", Description: "True when all startup gates are True."},
		{Name: "Reason", Type: "string", Description: "Reason of the Ready condition."},
		{Name: "Last Commit", Type: "string", Description: "Last commit pushed."},
		registry.AgeColumn,
		{Name: "Blocking Gate", Type: "string", Priority: 1, Description: "First gate that is not True."},
		{Name: "Message", Type: "string", Priority: 1, Description: "Why the blocking gate is not True."},
		registry.AuthorizedByColumn,
	},
	Rows: func(t *configbutler.GitTarget) [][]interface{} {
		s := conditions.SummarizeGitTarget(t.Status.Conditions, t.CreationTimestamp)
		return [][]interface{}{{
			t.Name, t.Spec.ProviderRef.Name, t.Spec.Branch, orNone(t.Spec.Path),
			string(s.Ready.Status), s.Ready.Reason, orNone(ShortHash(t.Status.LastCommit)),
			registry.Age(t.CreationTimestamp), orNone(s.BlockingGate), blockingMessage(s),
			registry.AuthorizedBy(t.Status.AuthorizedBy),
		}}
	},
}

func blockingMessage(s conditions.Summary) string {
	for _, g := range s.Gates {
		if g.Type == s.BlockingGate {
			return g.Message
		}
	}
	return s.Ready.Message
}

// GatesTable prints the gates subresource: one row per gate, then Ready.
var GatesTable = registry.TableConvertor[*configbutler.GitTargetGates]{
	Columns: []metav1.TableColumnDefinition{
		{Name: "Gate", Type: "string", Description: "Condition type."},
		{Name: "Status", Type: "string", Description: "True, False or Unknown."},
		{Name: "Reason", Type: "string", Description: "Reason of the condition."},
		{Name: "Message", Type: "string", Description: "Message of the condition."},
		{Name: "Age", Type: "string", Description: "Time since the last status transition."},
		{Name: "Generation", Type: "integer", Priority: 1, Description: "Generation the gate was evaluated for."},
	},
	Rows: func(g *configbutler.GitTargetGates) [][]interface{} {
		rows := make([][]interface{}, 0, len(g.Gates))
		for _, c := range g.Gates {
			rows = append(rows, []interface{}{c.Type, string(c.Status), c.Reason, c.Message, registry.Age(c.LastTransitionTime), c.ObservedGeneration})
		}
		return rows
	},
}

// SnapshotTable prints the snapshot subresource: state and stats.
var SnapshotTable = registry.TableConvertor[*configbutler.GitTargetSnapshot]{
	Columns: []metav1.TableColumnDefinition{
		registry.NameColumn,
		{Name: "State", Type: "string", Description: "SnapshotSynced status."},
		{Name: "Reason", Type: "string", Description: "SnapshotSynced reason."},
		{Name: "Created", Type: "integer", Description: "Files created."},
		{Name: "Updated", Type: "integer", Description: "Files updated."},
		{Name: "Deleted", Type: "integer", Description: "Stale files deleted."},
		{Name: "Commit", Type: "string", Description: "Commit pushed by the snapshot."},
		{Name: "Duration", Type: "string", Description: "Duration of the last snapshot."},
		{Name: "Completed", Type: "string", Description: "Time since the last snapshot completed."},
		{Name: "Unchanged", Type: "integer", Priority: 1, Description: "Files already up to date."},
		{Name: "Skipped Secrets", Type: "integer", Priority: 1, Description: "Secrets skipped for lack of encryption."},
		{Name: "Message", Type: "string", Priority: 1, Description: "SnapshotSynced message."},
	},
	Rows: func(s *configbutler.GitTargetSnapshot) [][]interface{} {
		dur, completed := "<none>", "<never>"
		if s.Duration != nil {
			dur = s.Duration.Duration.String()
		}
		if s.LastCompletedTime != nil {
			completed = registry.Age(*s.LastCompletedTime)
		}
		return [][]interface{}{{
			s.Name, string(s.State), s.Reason, s.Stats.Created, s.Stats.Updated, s.Stats.Deleted,
			orNone(ShortHash(s.Commit)), dur, completed, s.Stats.Unchanged, s.Stats.SkippedSecrets, s.Message,
		}}
	},
}
