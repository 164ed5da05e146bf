package main

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler/v1alpha1"
)

const growthNamespace = "bench-growth"

// growthRun is one size of the growth phase.
type growthRun struct {
	objects          int
	snapshot         time.Duration
	snapshotPeakKB   int64
	resnapshot       time.Duration
	resnapshotPeakKB int64
}

// growthPhase: how cost grows with the cluster. For each size (3,000 and
// 30,000 ConfigMaps of 1 KiB by default) a fresh server process snapshots a
// new target over all of them, then is restarted with 100 changed. The
// targets of the phases before it still exist (in a full run: 1,000 API
// targets and the snapshot phase's): run it alone for the cleanest
// figures (-phases=growth). It prints
// the peak RSS per mirrored object (the slope between the sizes, so the
// server's fixed footprint does not count) and the re-snapshot at each size,
// which should cost what changed, not what exists.
type growthPhase struct {
	*env
}

// benchGrowth runs the growth phase.
func (e *env) benchGrowth(ctx context.Context) error {
	return (&growthPhase{env: e}).run(ctx)
}

func (p *growthPhase) run(ctx context.Context) error {
	if err := p.ensureNamespace(ctx, growthNamespace); err != nil {
		return err
	}
	var runs []growthRun
	prev := ""
	for _, n := range p.opts.growth {
		if err := p.createConfigMaps(ctx, n); err != nil {
			return err
		}
		// Only this size's target exists: the previous one is deleted.
		if prev != "" {
			if err := p.deleteTarget(ctx, prev); err != nil {
				return err
			}
		}
		name := fmt.Sprintf("g%d", n)
		prev = name
		r, err := p.snapshotAt(ctx, n, name)
		if err != nil {
			return err
		}
		if err := p.resnapshotAt(ctx, name, &r); err != nil {
			return err
		}
		runs = append(runs, r)
		p.res.note("growth %d: snapshot %s, peak RSS %d MiB; re-snapshot %s, peak RSS %d MiB", n,
			r.snapshot.Round(time.Millisecond), r.snapshotPeakKB/1024, r.resnapshot.Round(time.Millisecond), r.resnapshotPeakKB/1024)
	}
	// The last size's target goes too: the phases after this one measure
	// their own targets only.
	if prev != "" {
		if err := p.deleteTarget(ctx, prev); err != nil {
			return err
		}
	}
	p.report(runs)
	return nil
}

// createConfigMaps makes sure the first n ConfigMaps exist (the smaller sizes
// made some already).
func (p *growthPhase) createConfigMaps(ctx context.Context, n int) error {
	return parallel(n, 32, func(i int) error {
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: cmName(i), Namespace: growthNamespace},
			Data: map[string]string{"payload": payload(i, 0)}}
		_, err := p.kube.CoreV1().ConfigMaps(growthNamespace).Create(ctx, cm, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			return nil
		}
		return err
	})
}

// deleteTarget deletes a size's GitTarget and WatchRule.
func (p *growthPhase) deleteTarget(ctx context.Context, name string) error {
	if err := p.cbDirect.ConfigbutlerV1alpha1().GitTargets(growthNamespace).Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
		return err
	}
	return p.cbDirect.ConfigbutlerV1alpha1().WatchRules(growthNamespace).Delete(ctx, name, metav1.DeleteOptions{})
}

// snapshotAt restarts our server, has a new target mirror the n ConfigMaps
// and measures its snapshot.
func (p *growthPhase) snapshotAt(ctx context.Context, n int, name string) (growthRun, error) {
	if err := p.restartServer(ctx); err != nil {
		return growthRun{}, err
	}
	if err := p.setupGitProvider(ctx, growthNamespace, name, "bench-growth-"+name, ""); err != nil {
		return growthRun{}, err
	}
	wr := &v1alpha1.WatchRule{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: growthNamespace},
		Spec: v1alpha1.WatchRuleSpec{TargetRef: v1alpha1.LocalTargetReference{Name: name},
			Rules: []v1alpha1.ResourceRule{{APIGroups: []string{""}, Resources: []string{"configmaps"}}}}}
	if _, err := p.cbDirect.ConfigbutlerV1alpha1().WatchRules(growthNamespace).Create(ctx, wr, metav1.CreateOptions{}); err != nil {
		return growthRun{}, err
	}
	t := &v1alpha1.GitTarget{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: growthNamespace},
		Spec: v1alpha1.GitTargetSpec{ProviderRef: v1alpha1.GitProviderReference{Name: name}, Branch: "main", Path: snapPath}}
	if _, err := p.cbDirect.ConfigbutlerV1alpha1().GitTargets(growthNamespace).Create(ctx, t, metav1.CreateOptions{}); err != nil {
		return growthRun{}, err
	}
	got, err := p.waitSnapshotOf(ctx, growthNamespace, name, time.Time{}, 10*time.Minute)
	if err != nil {
		return growthRun{}, err
	}
	r := growthRun{objects: n, snapshot: got.Status.Snapshot.Duration.Duration}
	if int(got.Status.Snapshot.Stats.Created) != n {
		return growthRun{}, fmt.Errorf("growth %d: the snapshot created %d files", n, got.Status.Snapshot.Stats.Created)
	}
	_, r.snapshotPeakKB = rssKB(p.st.Server.Pid())
	return r, nil
}

// resnapshotAt stops our server, changes opts.changed of the ConfigMaps,
// starts it and measures the re-snapshot into r.
func (p *growthPhase) resnapshotAt(ctx context.Context, name string, r *growthRun) error {
	n := r.objects
	p.st.StopServer()
	for i := 0; i < p.opts.changed; i++ {
		idx := i * (n / p.opts.changed)
		// A version of its own per size: the smaller sizes patched some of
		// these objects already, with another version.
		patch := fmt.Sprintf(`{"data":{"payload":%q}}`, payload(idx, 1000+n))
		if _, err := p.kube.CoreV1().ConfigMaps(growthNamespace).Patch(ctx, cmName(idx), types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
			return err
		}
	}
	restarted := time.Now()
	if err := p.st.StartServer(ctx); err != nil {
		return err
	}
	got, err := p.waitSnapshotOf(ctx, growthNamespace, name, restarted, 5*time.Minute)
	if err != nil {
		return err
	}
	if int(got.Status.Snapshot.Stats.Updated) != p.opts.changed {
		return fmt.Errorf("growth %d: the re-snapshot updated %d files, want %d", n, got.Status.Snapshot.Stats.Updated, p.opts.changed)
	}
	r.resnapshot = got.Status.Snapshot.Duration.Duration
	_, r.resnapshotPeakKB = rssKB(p.st.Server.Pid())
	return nil
}

// report records the figures of every size, and the slope between the
// smallest and the largest.
func (p *growthPhase) report(runs []growthRun) {
	for _, r := range runs {
		p.res.add(figure{Name: fmt.Sprintf("growth: peak RSS, snapshot of %d", r.objects), Unit: "MiB", Ours: float64(r.snapshotPeakKB) / 1024}, 0, 0)
		p.res.add(figure{Name: fmt.Sprintf("growth: re-snapshot after restart, %d of %d changed", p.opts.changed, r.objects), Unit: "s", Ours: r.resnapshot.Seconds()}, 0, 0.3)
	}
	if len(runs) >= 2 {
		a, b := runs[0], runs[len(runs)-1]
		slope := float64(b.snapshotPeakKB-a.snapshotPeakKB) / float64(b.objects-a.objects)
		p.res.add(figure{Name: fmt.Sprintf("growth: peak RSS per mirrored object (%d -> %d)", a.objects, b.objects), Unit: "KiB", Ours: slope}, 0, 3)
		p.res.add(figure{Name: fmt.Sprintf("growth: re-snapshot at %d vs %d", b.objects, a.objects), Unit: "s",
			Ours: b.resnapshot.Seconds(), Baseline: a.resnapshot.Seconds(), BaselineName: fmt.Sprintf("at %d", a.objects)}, 2.0, 0)
	}
}
