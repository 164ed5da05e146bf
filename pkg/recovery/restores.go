package recovery

import (
	"context"

	"filippo.io/age"
	"fmt"
	"slices"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"

	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler"
	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler/v1alpha1"
	"github.com/configbutler/gitops-reverser/pkg/history"
	"github.com/configbutler/gitops-reverser/pkg/lifecycle"
	"github.com/configbutler/gitops-reverser/pkg/restore"
)

// Conditions of a GitRestore.
const (
	// ConditionComplete: True when every object was handled, False (reason
	// Failed) when some failed or the restore could not run.
	ConditionComplete = "Complete"
	// ConditionPlanned: a dry run's plan (True).
	ConditionPlanned = "Planned"
)

// Restores runs GitRestores: it resolves what to restore from Git and writes
// it as the user who asked (pkg/restore). Source is the cluster to write to:
// the server's own configuration, to which each restore adds the user it
// impersonates.
type Restores struct {
	svc    *Service
	source *rest.Config
	mapper meta.RESTMapper
}

// NewRestores returns the restore runner over svc, writing to the cluster of
// source through mapper (restore.NewMapper over its discovery).
func NewRestores(svc *Service, source *rest.Config, mapper meta.RESTMapper) *Restores {
	return &Restores{svc: svc, source: source, mapper: mapper}
}

// Plan answers a dry-run create: what the restore would do, as the user who
// creates it (recorded in status.authorizedBy), writing nothing.
func (r *Restores) Plan(ctx context.Context, gr *configbutler.GitRestore) (configbutler.GitRestoreStatus, error) {
	ext := &v1alpha1.GitRestore{}
	if err := v1alpha1.Convert_configbutler_GitRestore_To_v1alpha1_GitRestore(gr, ext, nil); err != nil {
		return configbutler.GitRestoreStatus{}, err
	}
	st := r.Run(ctx, ext, true)
	var out configbutler.GitRestoreStatus
	err := v1alpha1.Convert_v1alpha1_GitRestoreStatus_To_configbutler_GitRestoreStatus(&st, &out, nil)
	return out, err
}

// Run restores gr (dryRun: plans it) and returns its status: per object what
// happened, the summary, the commit, and Complete (or Planned).
func (r *Restores) Run(ctx context.Context, gr *v1alpha1.GitRestore, dryRun bool) v1alpha1.GitRestoreStatus {
	now := metav1.Now()
	st := v1alpha1.GitRestoreStatus{StartTime: &now, AuthorizedBy: gr.Status.AuthorizedBy}
	res, commit, err := r.run(ctx, gr, dryRun)
	st.Commit = commit
	done := metav1.Now()
	cond := metav1.Condition{Type: ConditionComplete, Status: metav1.ConditionTrue, Reason: "Complete", ObservedGeneration: gr.Generation,
		LastTransitionTime: done}
	switch {
	case err != nil:
		cond.Status, cond.Reason, cond.Message = metav1.ConditionFalse, "Failed", err.Error()
	case res.Summary.Failed > 0:
		cond.Status, cond.Reason = metav1.ConditionFalse, "Failed"
		cond.Message = fmt.Sprintf("%d of %d objects failed (see objects)", res.Summary.Failed, len(res.Objects))
	default:
		cond.Message = fmt.Sprintf("%d objects handled", len(res.Objects))
	}
	if dryRun {
		cond.Type = ConditionPlanned
		if err == nil {
			cond.Status, cond.Reason, cond.Message = metav1.ConditionTrue, "Planned", fmt.Sprintf("The plan of %d objects; nothing was written", len(res.Objects))
		}
	} else {
		st.CompletionTime = &done
	}
	st.Conditions = []metav1.Condition{cond}
	st.Objects, st.Summary = res.Objects, res.Summary
	return st
}

// run resolves the files and keys of gr and runs the engine as its user.
func (r *Restores) run(ctx context.Context, gr *v1alpha1.GitRestore, dryRun bool) (restore.Result, string, error) {
	if gr.Status.AuthorizedBy == nil {
		return restore.Result{}, "", fmt.Errorf("no user is recorded on this GitRestore: there is nobody to write as")
	}
	files, ids, namespaces, commit, err := r.resolve(ctx, gr)
	if err != nil {
		return restore.Result{}, commit, err
	}
	client, err := restore.NewClient(r.source, gr.Status.AuthorizedBy)
	if err != nil {
		return restore.Result{}, commit, err
	}
	eng := &restore.Restorer{Client: client, Mapper: r.mapper}
	res, err := eng.Run(ctx, files, restore.Options{DryRun: dryRun, Prune: gr.Spec.Prune, Namespaces: namespaces, Identities: ids})
	return res, commit, err
}

// resolve returns the files a GitRestore restores, the identities that
// decrypt its Secrets, the namespaces it restores and the commit.
func (r *Restores) resolve(ctx context.Context, gr *v1alpha1.GitRestore) ([]restore.File, []age.Identity, []string, string, error) {
	b, err := r.svc.lifecycle()
	if err != nil {
		return nil, nil, nil, "", err
	}
	if name := gr.Spec.ObjectRevision; name != "" {
		return r.resolveRevision(ctx, b, gr.Namespace, name)
	}
	t := gr.Spec.Target
	ns := t.Namespace
	if ns == "" {
		ns = gr.Namespace
	}
	target, err := b.Target(ns, t.Name)
	if err != nil {
		return nil, nil, nil, "", fmt.Errorf("GitTarget %s/%s: %w", ns, t.Name, err)
	}
	key, ok := r.svc.keyOf(b, target)
	if !ok {
		return nil, nil, nil, "", fmt.Errorf("GitTarget %s/%s writes to no usable GitProvider", ns, t.Name)
	}
	remote, err := b.TargetRemote(ctx, ns, t.Name)
	if err != nil {
		return nil, nil, nil, "", err
	}
	keep := func(path string) bool {
		obj, ok := history.ParsePath(target.Spec.Path, path)
		if !ok {
			return false
		}
		if obj.Namespace == "" { // the restored namespaces themselves
			return obj.Group == "" && obj.Resource == "namespaces" && slices.Contains(gr.Spec.Namespaces, obj.Name)
		}
		return slices.Contains(gr.Spec.Namespaces, obj.Namespace)
	}
	files, commit, err := r.svc.store.Files(ctx, key, gr.Spec.Commit, target.Spec.Path, keep)
	if err != nil {
		return nil, nil, nil, commit, historyError(err)
	}
	return toFiles(files), identitiesOf(remote), gr.Spec.Namespaces, commit, nil
}

// resolveRevision returns the one file of a revision: the object after the
// change (before it, for a delete).
func (r *Restores) resolveRevision(ctx context.Context, b Backend, ns, name string) ([]restore.File, []age.Identity, []string, string, error) {
	rev, err := r.svc.Get(ctx, ns, name)
	if err != nil {
		return nil, nil, nil, "", err
	}
	remote, err := b.TargetRemote(ctx, rev.Target.Namespace, rev.Target.Name)
	if err != nil {
		return nil, nil, nil, rev.Commit, err
	}
	var namespaces []string
	if rev.Object.Namespace != "" {
		namespaces = []string{rev.Object.Namespace}
	}
	return []restore.File{{Path: rev.Path, Content: []byte(rev.Content)}}, identitiesOf(remote), namespaces, rev.Commit, nil
}

// identitiesOf are the identities that decrypt a target's Secrets (none
// without encryption).
func identitiesOf(r *lifecycle.Remote) []age.Identity {
	if r == nil || r.Keys == nil {
		return nil
	}
	return r.Keys.Identities
}

func toFiles(fs []history.File) []restore.File {
	out := make([]restore.File, len(fs))
	for i, f := range fs {
		out[i] = restore.File{Path: f.Path, Content: f.Content}
	}
	return out
}

// restoreTimeout bounds one restore.
const restoreTimeout = 10 * time.Minute
