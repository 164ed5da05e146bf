package lifecycle

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/klog/v2"
	"sigs.k8s.io/yaml"

	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler/v1alpha1"
	"github.com/configbutler/gitops-reverser/pkg/git"
	"github.com/configbutler/gitops-reverser/pkg/render"
)

// targetConfig is a target as a branch worker sees it.
type targetConfig struct {
	Key       string // namespace/name
	Namespace string
	Name      string
	Path      string
	Keys      *encryptionKeys
	Selection Selection
}

const readmeName = "README.md"
const sopsConfigName = ".sops.yaml"

func joinPath(base, name string) string {
	if base == "" {
		return name
	}
	return base + "/" + name
}

func readme(tc *targetConfig) []byte {
	return []byte(fmt.Sprintf(`# Mirrored by gitops-reverser

This directory is written by the GitTarget %s. gitops-reverser mirrors the
cluster resources selected by its WatchRules and ClusterWatchRules here, as

    <group>/<version>/<resource>/<namespace>/<name>.yaml

(no <group> for the core group, no <namespace> for cluster-scoped resources).
Secrets are written SOPS-encrypted with age, as *.sops.yaml; the age identity
is in the cluster Secret named by the target's spec.encryption.secretRef.

Files in that layout are rewritten and removed as the cluster changes; other
files, like this one once it exists, are left alone.
`, tc.Key))
}

// bootstrapRequest is one target's bootstrap, queued on its branch worker.
type bootstrapRequest struct {
	tc    *targetConfig
	start func()
	done  func(commit string, applied bool, err error)
}

// RequestBootstrap queues a target's bootstrap (the seed's
// EnsureTargetBootstrapped): it runs on the worker's goroutine, never under the
// WorkerManager's lock. Bootstraps queued together run as one: one fetch and
// one commit, so a thousand targets on one branch make one bootstrap commit,
// not a thousand. start is called when it begins, done with its result.
func (w *BranchWorker) RequestBootstrap(tc *targetConfig, start func(), done func(commit string, applied bool, err error)) {
	w.mu.Lock()
	w.bootstraps = append(w.bootstraps, bootstrapRequest{tc: tc, start: start, done: done})
	w.tasks = append(w.tasks, task{name: "bootstrap " + tc.Key, run: w.runBootstraps})
	w.mu.Unlock()
	w.signal()
}

// runBootstraps runs every bootstrap queued so far (later tasks of the same
// kind find nothing left to do).
func (w *BranchWorker) runBootstraps(ctx context.Context) {
	w.mu.Lock()
	reqs := w.bootstraps
	w.bootstraps = nil
	w.mu.Unlock()
	if len(reqs) == 0 {
		return
	}
	tcs := make([]*targetConfig, len(reqs))
	for i, r := range reqs {
		r.start()
		tcs[i] = r.tc
	}
	commit, applied, err := w.EnsureTargetsBootstrapped(ctx, tcs)
	for i, r := range reqs {
		r.done(commit, applied != nil && applied[i], err)
	}
}

// EnsureTargetsBootstrapped writes README.md and, with encryption, .sops.yaml
// under each target's path where they are missing (.sops.yaml also when its
// recipients are stale), all in one commit. applied[i] tells whether target i
// needed anything; commit is "" when none did.
func (w *BranchWorker) EnsureTargetsBootstrapped(ctx context.Context, tcs []*targetConfig) (commit string, applied []bool, err error) {
	repo, err := w.syncedRepo(ctx)
	if err != nil {
		return "", nil, err
	}
	applied = make([]bool, len(tcs))
	var changes []git.Change
	var lines []string
	for i, tc := range tcs {
		n := len(changes)
		if _, found, err := repo.ReadFile(joinPath(tc.Path, readmeName)); err != nil {
			return "", nil, err
		} else if !found {
			changes = append(changes, git.Change{Path: joinPath(tc.Path, readmeName), Content: readme(tc)})
		}
		if tc.Keys != nil {
			want := sopsConfigFor(tc.Keys)
			got, found, err := repo.ReadFile(joinPath(tc.Path, sopsConfigName))
			if err != nil {
				return "", nil, err
			}
			if !found || string(got) != string(want) {
				changes = append(changes, git.Change{Path: joinPath(tc.Path, sopsConfigName), Content: want})
			}
		}
		if applied[i] = len(changes) > n; applied[i] {
			lines = append(lines, fmt.Sprintf("bootstrap %s for GitTarget %s", displayPath(tc.Path), tc.Key))
		}
	}
	if len(changes) == 0 {
		return "", applied, nil
	}
	msg := "gitops-reverser: " + lines[0]
	if len(lines) > 1 {
		msg = fmt.Sprintf("gitops-reverser: bootstrap %d GitTargets\n\n%s\n", len(lines), strings.Join(lines, "\n"))
	}
	pctx, cancel := w.m.fence(ctx)
	defer cancel()
	res, err := repo.CommitAndPush(pctx, changes, w.m.commitMessage(msg))
	if err != nil {
		return "", nil, err
	}
	if !res.Changed {
		// Someone else wrote the same files meanwhile.
		return "", make([]bool, len(tcs)), nil
	}
	return res.Hash.String(), applied, nil
}

// snapshotResult is the outcome of one snapshot.
type snapshotResult struct {
	Stats  v1alpha1.SnapshotStats
	Commit string
	// ListRVs is the resourceVersion each type was listed at (the stream barrier).
	ListRVs map[schema.GroupVersionResource]string
	// Diff is the time spent reading, rendering and comparing; Push the commit
	// and push.
	Diff, Push time.Duration
}

// progressFunc reports stats while a snapshot runs.
type progressFunc func(v1alpha1.SnapshotStats)

// lister calls fn for every object of a type, as of one resourceVersion, which
// it returns.
type lister func(ctx context.Context, gvr schema.GroupVersionResource, fn func(*unstructured.Unstructured) error) (string, error)

// snapshot reads every selected object (through list: one consistent view per
// type), renders it, diffs against the tree under the target path and writes
// creates, updates and deletes as one commit. Only files our layout would
// produce for a selected type and namespace, holding the object the path names,
// are deleted: READMEs and foreign files stay.
func (w *BranchWorker) snapshot(ctx context.Context, list lister, tc *targetConfig, progress progressFunc) (_ *snapshotResult, err error) {
	repo, err := w.syncedRepo(ctx)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	res := &snapshotResult{ListRVs: map[schema.GroupVersionResource]string{}}
	var changes []git.Change
	var created, updated, deleted []string
	// What the index learns, once the commit is pushed.
	type learned struct {
		path string
		obj  *unstructured.Unstructured
		blob plumbing.Hash
	}
	var learn []learned
	for _, gvr := range tc.Selection.GVRs() {
		ts := tc.Selection[gvr]
		existing, err := repo.ListFiles(render.Dir(tc.Path, gvr))
		if err != nil {
			return nil, err
		}
		desired := map[string]bool{}
		rv, err := list(ctx, gvr, func(obj *unstructured.Unstructured) error {
			ns := obj.GetNamespace()
			if !ts.Matches(ns) {
				return nil
			}
			if render.IsSecret(gvr) && tc.Keys == nil {
				res.Stats.SkippedSecrets++
				return nil
			}
			path := render.Path(tc.Path, gvr, ns, obj.GetName())
			desired[path] = true
			blob, had := existing[path]
			if had && w.index.current(path, obj, tc.Keys, blob) {
				res.Stats.Unchanged++ // this very version is in the tree: no render
				return nil
			}
			content, unchanged, err := snapshotContent(repo, gvr, obj, tc.Keys, path, existing)
			if err != nil {
				return err
			}
			if !unchanged {
				blob = git.BlobHash(content)
			}
			learn = append(learn, learned{path, obj, blob})
			switch {
			case unchanged:
				res.Stats.Unchanged++
			case had:
				res.Stats.Updated++
				updated = append(updated, path)
				changes = append(changes, git.Change{Path: path, Content: content})
			default:
				res.Stats.Created++
				created = append(created, path)
				changes = append(changes, git.Change{Path: path, Content: content})
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("listing %s: %w", gvr.String(), err)
		}
		res.ListRVs[gvr] = rv
		for path := range existing {
			if desired[path] {
				continue
			}
			ns, name, ok := render.ParsePath(tc.Path, gvr, ts.Resource.Namespaced, path)
			if !ok || !ts.Matches(ns) || (render.IsSecret(gvr) && tc.Keys == nil) {
				continue
			}
			if !holdsObject(repo, path, ns, name) {
				continue
			}
			res.Stats.Deleted++
			deleted = append(deleted, path)
			changes = append(changes, git.Change{Path: path, Delete: true})
			learn = append(learn, learned{path: path})
		}
		if progress != nil {
			progress(res.Stats)
		}
	}
	res.Diff = time.Since(start)
	defer func() {
		if err == nil {
			for _, l := range learn {
				w.index.record(l.path, l.obj, tc.Keys, l.blob)
			}
			if serr := w.index.save(); serr != nil {
				klog.InfoS("Saving the rendered-file index failed", "worker", w.Key, "err", serr)
			}
		}
	}()
	if len(changes) == 0 {
		return res, nil
	}
	msg := snapshotMessage(tc, res.Stats, created, updated, deleted)
	pctx, cancel := w.m.fence(ctx)
	defer cancel()
	cr, err := repo.CommitAndPush(pctx, changes, w.m.commitMessage(msg))
	res.Push = time.Since(start) - res.Diff
	if err != nil {
		return nil, err
	}
	if cr.Changed {
		res.Commit = cr.Hash.String()
	}
	return res, nil
}

// snapshotContent renders an object for the snapshot, comparing with the blob
// already there by hash (Secrets by decrypted content).
func snapshotContent(repo *git.Repo, gvr schema.GroupVersionResource, obj *unstructured.Unstructured, keys *encryptionKeys, path string, existing map[string]plumbing.Hash) ([]byte, bool, error) {
	plain, err := render.Render(obj)
	if err != nil {
		return nil, false, err
	}
	h, had := existing[path]
	if !render.IsSecret(gvr) {
		return plain, had && git.BlobHash(plain) == h, nil
	}
	var old []byte
	if had {
		if old, _, err = repo.ReadFile(path); err != nil {
			return nil, false, err
		}
	}
	return encryptSecret(plain, old, had, keys)
}

// holdsObject reports whether the file at path is a manifest of the object the
// path names; anything else is a foreign file and is never deleted.
func holdsObject(repo *git.Repo, path, ns, name string) bool {
	b, found, err := repo.ReadFile(path)
	if err != nil || !found {
		return false
	}
	var m struct {
		Metadata struct {
			Name      string `json:"name"`
			Namespace string `json:"namespace"`
		} `json:"metadata"`
	}
	if err := yaml.Unmarshal(b, &m); err != nil {
		return false
	}
	return m.Metadata.Name == name && m.Metadata.Namespace == ns
}

func snapshotMessage(tc *targetConfig, st v1alpha1.SnapshotStats, created, updated, deleted []string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "gitops-reverser: snapshot of GitTarget %s (%d created, %d updated, %d deleted)\n\n",
		tc.Key, st.Created, st.Updated, st.Deleted)
	const maxLines = 200
	lines := 0
	for _, group := range []struct {
		verb  string
		paths []string
	}{{"create", created}, {"update", updated}, {"delete", deleted}} {
		sort.Strings(group.paths)
		for _, p := range group.paths {
			if lines == maxLines {
				fmt.Fprintf(&b, "... and %d more\n", len(created)+len(updated)+len(deleted)-maxLines)
				return b.String()
			}
			fmt.Fprintf(&b, "%s %s\n", group.verb, p)
			lines++
		}
	}
	return b.String()
}

// runSnapshot runs a snapshot as a worker task, with the stream barrier around
// it: the target's events are buffered from before the LIST and applied after
// the commit, so nothing between the list and the stream start is lost.
func (w *BranchWorker) runSnapshot(ctx context.Context, c *Controller, tc *targetConfig, fp string) {
	st := c.states
	started := time.Now()
	st.update(tc.Key, func(s *targetState) {
		s.Snapshot = opState{Phase: phaseRunning, Fingerprint: fp, Started: started, Failures: s.Snapshot.Failures}
	})
	c.enqueue(tc.Key)
	fail := func(reason string, err error) {
		klog.ErrorS(err, "Snapshot failed", "target", tc.Key, "worker", w.Key)
		st.update(tc.Key, func(s *targetState) {
			s.Snapshot.Phase = phaseFailed
			s.Snapshot.Reason = reason
			s.Snapshot.Message = fmt.Sprintf("Snapshot of %s failed: %v", displayPath(tc.Path), err)
			s.Snapshot.Finished = time.Now()
			s.Snapshot.Failures++
		})
		c.enqueue(tc.Key)
	}
	if err := c.router.BeginBuffer(ctx, tc, w); err != nil {
		fail(v1alpha1.ReasonSnapshotFailed, err)
		return
	}
	synced := time.Now()
	// The informers BeginBuffer synced hold every object of the selected
	// types: read them there instead of decoding a second LIST of the same
	// objects (at 10,000 objects that LIST was a third of the snapshot).
	res, err := w.snapshot(ctx, c.router.ListCached, tc, func(stats v1alpha1.SnapshotStats) {
		st.update(tc.Key, func(s *targetState) { s.Snapshot.Stats = stats })
		c.enqueue(tc.Key)
	})
	if err != nil {
		c.router.AbortBuffer(tc.Key)
		fail(v1alpha1.ReasonSnapshotFailed, err)
		return
	}
	// Live before Done: a reconcile that sees the snapshot done finds the stream up.
	c.router.GoLive(tc.Key, res.ListRVs)
	now := time.Now()
	klog.InfoS("Snapshot completed", "target", tc.Key, "worker", w.Key, "commit", res.Commit,
		"created", res.Stats.Created, "updated", res.Stats.Updated, "deleted", res.Stats.Deleted, "unchanged", res.Stats.Unchanged,
		"watchSync", synced.Sub(started), "diff", res.Diff, "push", res.Push, "total", now.Sub(started))
	st.update(tc.Key, func(s *targetState) {
		if !s.Streaming {
			s.Streaming, s.RegisteredTime = true, now
		}
		s.Snapshot.Phase = phaseDone
		s.Snapshot.Stats = res.Stats
		s.Snapshot.Commit = res.Commit
		s.Snapshot.Finished = now
		s.Snapshot.Failures = 0
		if res.Commit != "" {
			s.LastCommit = res.Commit
			s.LastPushTime = now
		}
	})
	c.enqueue(tc.Key)
}
