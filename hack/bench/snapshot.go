package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler/v1alpha1"
)

const (
	snapNamespace = "bench-snap"
	snapRepo      = "bench-snap"
	snapTarget    = "snap"
	snapPath      = "cluster"
)

func cmName(i int) string { return fmt.Sprintf("cm-%05d", i) }

// payload is 1 KiB of text, different per object and version.
func payload(i, version int) string {
	seed := fmt.Sprintf("object %d version %d ", i, version)
	return strings.Repeat(seed, 1024/len(seed)+1)[:1024]
}

// snapshotPhase: 10,000 ConfigMaps of 1 KiB mirrored by a new GitTarget,
// from the snapshot's LIST to its pushed commit, against `git add -A && git
// commit && git push` of the same files with the git CLI; then a re-snapshot
// (after a restart of our server) with 100 of them changed.
type snapshotPhase struct {
	*env
	n int
	// bare is the remote repository the target pushes to.
	bare string
}

// benchSnapshot runs the snapshot phase.
func (e *env) benchSnapshot(ctx context.Context) error {
	return (&snapshotPhase{env: e, n: e.opts.objects, bare: e.st.Git.RepoPath(snapRepo)}).run(ctx)
}

func (p *snapshotPhase) run(ctx context.Context) error {
	if err := p.createConfigMaps(ctx); err != nil {
		return err
	}
	if err := p.snapshot(ctx); err != nil {
		return err
	}
	return p.resnapshot(ctx)
}

// createConfigMaps creates the n ConfigMaps the target mirrors.
func (p *snapshotPhase) createConfigMaps(ctx context.Context) error {
	n := p.n
	if err := p.ensureNamespace(ctx, snapNamespace); err != nil {
		return err
	}
	start := time.Now()
	if err := parallel(n, 32, func(i int) error {
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: cmName(i), Namespace: snapNamespace,
			Labels: map[string]string{"app.kubernetes.io/part-of": "bench"}},
			Data: map[string]string{"payload": payload(i, 0), "seq": "0"}}
		_, err := p.kube.CoreV1().ConfigMaps(snapNamespace).Create(ctx, cm, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			return nil
		}
		return err
	}); err != nil {
		return fmt.Errorf("creating ConfigMaps: %w", err)
	}
	p.res.note("created %d ConfigMaps of 1 KiB in %s (32 clients through kube-apiserver)", n, time.Since(start).Round(time.Millisecond))
	return nil
}

// snapshot creates the target on a fresh server process (its peak RSS is
// this phase's alone), waits for its snapshot, checks it against the remote,
// and compares its time with the git CLI's on the same files.
func (p *snapshotPhase) snapshot(ctx context.Context) error {
	n := p.n
	if err := p.restartServer(ctx); err != nil {
		return err
	}
	if err := p.setupGitProvider(ctx, snapNamespace, snapRepo, snapRepo, ""); err != nil {
		return err
	}
	wr := &v1alpha1.WatchRule{ObjectMeta: metav1.ObjectMeta{Name: "configmaps", Namespace: snapNamespace},
		Spec: v1alpha1.WatchRuleSpec{TargetRef: v1alpha1.LocalTargetReference{Name: snapTarget},
			Rules: []v1alpha1.ResourceRule{{APIGroups: []string{""}, Resources: []string{"configmaps"}}}}}
	if _, err := p.cbDirect.ConfigbutlerV1alpha1().WatchRules(snapNamespace).Create(ctx, wr, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	prof := p.probe.startCPUProfile("snapshot", 30)
	cpu := startCPU(p.st)
	created := time.Now()
	t := &v1alpha1.GitTarget{ObjectMeta: metav1.ObjectMeta{Name: snapTarget, Namespace: snapNamespace},
		Spec: v1alpha1.GitTargetSpec{ProviderRef: v1alpha1.GitProviderReference{Name: snapRepo}, Branch: "main", Path: snapPath}}
	if _, err := p.cbDirect.ConfigbutlerV1alpha1().GitTargets(snapNamespace).Create(ctx, t, metav1.CreateOptions{}); err != nil {
		return err
	}
	got, err := p.waitSnapshot(ctx, time.Time{}, 10*time.Minute)
	if err != nil {
		return err
	}
	wall := time.Since(created)
	p.res.note("snapshot: %s", cpu)
	prof()
	snap := got.Status.Snapshot
	if snap == nil || snap.Duration == nil || snap.Commit == "" {
		return fmt.Errorf("snapshot status incomplete: %+v", got.Status.Snapshot)
	}
	if int(snap.Stats.Created) != n {
		return fmt.Errorf("snapshot created %d files, want %d", snap.Stats.Created, n)
	}
	if tip := strings.TrimSpace(gitOut(p.bare, "rev-parse", "refs/heads/main")); tip != snap.Commit {
		return fmt.Errorf("remote main is %s, the snapshot reports %s", tip, snap.Commit)
	}
	files := strings.Count(gitOut(p.bare, "ls-tree", "-r", "--name-only", "main", snapPath+"/v1/configmaps/"+snapNamespace), "\n")
	if files != n {
		return fmt.Errorf("the pushed commit holds %d ConfigMap files, want %d", files, n)
	}
	_, peak := rssKB(p.st.Server.Pid())
	p.probe.heapProfile(ctx, "snapshot")
	p.probe.memNote(ctx, "after the snapshot")

	// Baseline: the same files, committed and pushed by the git CLI.
	cli, err := p.gitCLIBaseline(ctx)
	if err != nil {
		return fmt.Errorf("git CLI baseline: %w", err)
	}
	p.res.add(figure{Name: fmt.Sprintf("snapshot of %d ConfigMaps, LIST to pushed commit", n), Unit: "s",
		Ours: snap.Duration.Seconds(), Baseline: cli.Seconds(), BaselineName: "git add+commit+push"}, 0.3, 0)
	// The floor: reading the same objects from kube-apiserver, the fastest
	// any snapshot could be.
	floor, err := p.listFloor(ctx, "application/vnd.kubernetes.protobuf")
	if err != nil {
		return fmt.Errorf("LIST floor: %w", err)
	}
	// The same LIST as JSON, the encoding the snapshot reads (our server
	// renders from the objects as JSON gives them): what the wire format
	// costs, kube-apiserver's encoding and the client's decoding together.
	if _, err := p.listFloor(ctx, "application/json"); err != nil {
		return fmt.Errorf("LIST as JSON: %w", err)
	}
	p.res.add(figure{Name: fmt.Sprintf("snapshot of %d ConfigMaps against reading them", n), Unit: "s",
		Ours: snap.Duration.Seconds(), Baseline: floor.Seconds(), BaselineName: "raw LIST, protobuf, pages of 500"}, 2, 0)
	p.res.note("snapshot: GitTarget created -> SnapshotSynced=True (validation, bootstrap commit, snapshot) %s; stats %+v", wall.Round(time.Millisecond), snap.Stats)
	p.res.add(figure{Name: fmt.Sprintf("peak RSS, snapshot of %d ConfigMaps", n), Unit: "MiB", Ours: float64(peak) / 1024}, 0, 150)
	return nil
}

// resnapshot: our server stopped, 100 ConfigMaps changed, server started;
// the snapshot on start brings Git up to date.
func (p *snapshotPhase) resnapshot(ctx context.Context) error {
	n, bare := p.n, p.bare
	commitsBefore := countCommits(bare)
	p.st.StopServer()
	changed := p.opts.changed
	for i := 0; i < changed; i++ {
		idx := i * (n / changed)
		patch := fmt.Sprintf(`{"data":{"payload":%q}}`, payload(idx, 1))
		if _, err := p.kube.CoreV1().ConfigMaps(snapNamespace).Patch(ctx, cmName(idx), types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
			return err
		}
	}
	restarted := time.Now()
	if err := p.st.StartServer(ctx); err != nil {
		return err
	}
	ready := time.Now()
	got, err := p.waitSnapshot(ctx, restarted, 5*time.Minute)
	if err != nil {
		return err
	}
	p.res.add(figure{Name: fmt.Sprintf("restart: server ready -> SnapshotSynced, %d of %d changed", p.opts.changed, n), Unit: "s", Ours: time.Since(ready).Seconds()}, 0, 0)
	snap := got.Status.Snapshot
	if int(snap.Stats.Updated) != changed {
		return fmt.Errorf("re-snapshot updated %d files, want %d (stats %+v)", snap.Stats.Updated, changed, snap.Stats)
	}
	commits := countCommits(bare) - commitsBefore
	content := gitOut(bare, "show", fmt.Sprintf("main:%s/v1/configmaps/%s/%s.yaml", snapPath, snapNamespace, cmName(0)))
	if !strings.Contains(content, payload(0, 1)[:40]) {
		return fmt.Errorf("re-snapshot: %s not updated in Git", cmName(0))
	}
	p.res.add(figure{Name: fmt.Sprintf("re-snapshot after restart, %d of %d changed", changed, n), Unit: "s", Ours: snap.Duration.Seconds()}, 0, 0.3)
	// Where its time went, from the server's "Snapshot completed" log line.
	if parts := lastSnapshotLog(filepath.Join(p.st.LogDir(), "gitops-reverser-apiserver.log")); parts != nil {
		p.res.add(figure{Name: "  of which: watch of the selected types synced", Unit: "s", Ours: parts["watchSync"]}, 0, 0)
		p.res.add(figure{Name: "  of which: read, render, compare", Unit: "s", Ours: parts["diff"]}, 0, 0)
		p.res.add(figure{Name: "  of which: commit and push", Unit: "s", Ours: parts["push"]}, 0, 0)
	}
	p.res.add(figure{Name: "re-snapshot commits", Unit: "commits", Ours: float64(commits)}, 0, 1)
	_, peak := rssKB(p.st.Server.Pid())
	p.res.add(figure{Name: fmt.Sprintf("peak RSS, re-snapshot of %d ConfigMaps", n), Unit: "MiB", Ours: float64(peak) / 1024}, 0, 150)
	return nil
}

// waitSnapshot polls (straight to our server) until the snapshot target's
// SnapshotSynced is True with a snapshot completed after since.
func (p *snapshotPhase) waitSnapshot(ctx context.Context, since time.Time, timeout time.Duration) (*v1alpha1.GitTarget, error) {
	return p.waitSnapshotOf(ctx, snapNamespace, snapTarget, since, timeout)
}

// gitCLIBaseline clones the mirrored repository, copies the snapshot's files
// into a clone of a new empty repository on the same git server and times
// `git add -A && git commit && git push` there.
func (p *snapshotPhase) gitCLIBaseline(ctx context.Context) (time.Duration, error) {
	dir, err := os.MkdirTemp("", "bench-cli-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	const baseRepo = "bench-cli"
	if _, err := os.Stat(p.st.Git.RepoPath(baseRepo)); err == nil {
		_ = os.RemoveAll(p.st.Git.RepoPath(baseRepo))
	}
	if _, err := p.st.Git.CreateBareRepo(baseRepo); err != nil {
		return 0, err
	}
	ours, cli := filepath.Join(dir, "ours"), filepath.Join(dir, "cli")
	if err := runGit(dir, "clone", "-q", p.st.Git.URLWithCredentials(snapRepo), ours); err != nil {
		return 0, err
	}
	if err := runGit(dir, "clone", "-q", p.st.Git.URLWithCredentials(baseRepo), cli); err != nil {
		return 0, err
	}
	if err := exec.Command("cp", "-a", filepath.Join(ours, snapPath), filepath.Join(cli, snapPath)).Run(); err != nil {
		return 0, err
	}
	start := time.Now()
	for _, args := range [][]string{
		{"add", "-A"},
		{"-c", "user.name=bench", "-c", "user.email=bench@example.com", "commit", "-q", "-m", "snapshot"},
		{"push", "-q", "origin", "HEAD:refs/heads/main"},
	} {
		if err := runGit(cli, args...); err != nil {
			return 0, err
		}
	}
	took := time.Since(start)
	files := strings.Count(gitOut(p.st.Git.RepoPath(baseRepo), "ls-tree", "-r", "--name-only", "main"), "\n")
	p.res.note("git CLI baseline: %d files, add+commit+push %s", files, took.Round(time.Millisecond))
	return took, nil
}

func runGit(dir string, args ...string) error {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("git %s: %v: %s", strings.Join(args, " "), err, out.String())
	}
	return nil
}

// gitOut runs git against a bare repository and returns its output ("" on error).
func gitOut(bare string, args ...string) string {
	out, _ := exec.Command("git", append([]string{"--git-dir=" + bare}, args...)...).Output()
	return string(out)
}

func countCommits(bare string) int {
	n, _ := strconv.Atoi(strings.TrimSpace(gitOut(bare, "rev-list", "--count", "main")))
	return n
}

// lastSnapshotLog returns the durations (seconds) of the last "Snapshot
// completed" line of a server log.
func lastSnapshotLog(file string) map[string]float64 {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil
	}
	lines := strings.Split(string(b), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if !strings.Contains(lines[i], `"Snapshot completed"`) {
			continue
		}
		out := map[string]float64{}
		for _, f := range strings.Fields(lines[i]) {
			k, v, ok := strings.Cut(f, "=")
			if !ok {
				continue
			}
			if d, err := time.ParseDuration(strings.Trim(v, `"`)); err == nil {
				out[k] = d.Seconds()
			}
		}
		return out
	}
	return nil
}

// listFloor times a raw LIST of the snapshot's ConfigMaps from kube-apiserver
// as a client that only reads them would: in media (protobuf for the floor:
// built-in types are served so), in pages of 500 as the snapshot lists,
// decoding each page into typed objects and keeping none. The best of three.
func (p *snapshotPhase) listFloor(ctx context.Context, media string) (time.Duration, error) {
	cfg := rest.CopyConfig(p.admin)
	cfg.ContentType = media
	cfg.AcceptContentTypes = media
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return 0, err
	}
	best := time.Duration(0)
	for range 3 {
		start, items, cont := time.Now(), 0, ""
		for {
			l, err := kube.CoreV1().ConfigMaps(snapNamespace).List(ctx, metav1.ListOptions{Limit: 500, Continue: cont})
			if err != nil {
				return 0, err
			}
			items += len(l.Items)
			if cont = l.Continue; cont == "" {
				break
			}
		}
		took := time.Since(start)
		if items < p.n {
			return 0, fmt.Errorf("listed %d ConfigMaps, want at least %d", items, p.n)
		}
		if best == 0 || took < best {
			best = took
		}
	}
	p.res.note("LIST of %d ConfigMaps in pages of 500, %s, best of 3: %s", p.n, media, best.Round(time.Millisecond))
	return best, nil
}
