package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler/v1alpha1"
)

const (
	scaleHome   = "bench-scale" // the target's namespace
	scaleRepo   = "bench-scale"
	scaleTarget = "scale"
	scalePath   = "scale"
	scaleLabel  = "bench-scale" // on the namespaces the ClusterWatchRule selects
)

// scaleKinds are the four types of the scale phase, object i being of
// scaleKinds[i%4], and where the target writes each.
var scaleKinds = []struct{ kind, dir string }{
	{"ConfigMap", "v1/configmaps"}, {"Secret", "v1/secrets"}, {"Deployment", "apps/v1/deployments"}, {"Service", "v1/services"},
}

func scaleNamespace(i, namespaces int) string { return fmt.Sprintf("scale-%04d", i%namespaces) }
func scaleName(i int) string                  { return fmt.Sprintf("o-%06d", i) }

// scalePhase: a cluster-sized mirror. -scale-objects objects (100,000) of
// four types (a quarter each: ConfigMaps and Secrets of 1 KiB, Deployments,
// headless Services) across -scale-namespaces namespaces (1,000), one
// GitTarget over them all through a ClusterWatchRule, its Secrets
// SOPS-encrypted. On a fresh server process: the snapshot's time and peak
// RSS, RSS per object, the RSS it keeps afterwards; then, after a restart
// with 100 ConfigMaps changed, the re-snapshot; then the live stream on that
// process (change -> pushed p99, nothing lost) and its peak RSS.
type scalePhase struct {
	*env
	n, namespaces int
	bare          string
}

// benchScale runs the scale phase.
func (e *env) benchScale(ctx context.Context) error {
	return (&scalePhase{env: e, n: e.opts.scaleObjects, namespaces: e.opts.scaleNamespaces, bare: e.st.Git.RepoPath(scaleRepo)}).run(ctx)
}

func (p *scalePhase) run(ctx context.Context) error {
	// One target over the cluster: the one the snapshot and stream phases
	// shared goes first (their 10,000 ConfigMaps stay, as any cluster's
	// unmirrored objects do).
	if err := removeTargets(ctx, p.cbDirect, snapNamespace); err != nil {
		return err
	}
	if err := p.create(ctx); err != nil {
		return err
	}
	if err := p.snapshot(ctx); err != nil {
		return err
	}
	if err := p.resnapshot(ctx); err != nil {
		return err
	}
	return p.stream(ctx)
}

// create makes the namespaces (labelled for the rule) and the objects.
func (p *scalePhase) create(ctx context.Context) error {
	start := time.Now()
	if err := p.ensureNamespace(ctx, scaleHome); err != nil {
		return err
	}
	if err := parallel(p.namespaces, 32, func(i int) error {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: scaleNamespace(i, p.namespaces), Labels: map[string]string{scaleLabel: "true"}}}
		_, err := p.kube.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			return nil
		}
		return err
	}); err != nil {
		return fmt.Errorf("creating namespaces: %w", err)
	}
	if err := p.ensureNamespace(ctx, scaleNamespace(p.namespaces-1, p.namespaces)); err != nil {
		return err
	}
	if err := parallel(p.n, 32, func(i int) error {
		err := p.createObject(ctx, i)
		if apierrors.IsAlreadyExists(err) {
			return nil
		}
		return err
	}); err != nil {
		return fmt.Errorf("creating objects: %w", err)
	}
	p.res.note("scale: created %d namespaces and %d objects (ConfigMaps, Secrets, Deployments, Services) in %s", p.namespaces, p.n, time.Since(start).Round(time.Second))
	return nil
}

// createObject creates object i, of kind scaleKinds[i%4].
func (p *scalePhase) createObject(ctx context.Context, i int) error {
	meta := metav1.ObjectMeta{Name: scaleName(i), Namespace: scaleNamespace(i, p.namespaces), Labels: map[string]string{"app.kubernetes.io/part-of": "bench"}}
	core := p.kube.CoreV1()
	var err error
	switch i % 4 {
	case 0:
		_, err = core.ConfigMaps(meta.Namespace).Create(ctx, &corev1.ConfigMap{ObjectMeta: meta, Data: map[string]string{"payload": payload(i, 0), "seq": "0"}}, metav1.CreateOptions{})
	case 1:
		_, err = core.Secrets(meta.Namespace).Create(ctx, &corev1.Secret{ObjectMeta: meta, StringData: map[string]string{"payload": payload(i, 0)}}, metav1.CreateOptions{})
	case 2:
		zero := int32(0)
		sel := map[string]string{"app": meta.Name}
		d := &appsv1.Deployment{ObjectMeta: meta, Spec: appsv1.DeploymentSpec{Replicas: &zero, Selector: &metav1.LabelSelector{MatchLabels: sel},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: sel}, Spec: corev1.PodSpec{Containers: []corev1.Container{{
				Name: "app", Image: "registry.example/app:1.0", Args: []string{"--serve", "--port=8080"},
				Ports: []corev1.ContainerPort{{ContainerPort: 8080}}}}}}}}
		_, err = p.kube.AppsV1().Deployments(meta.Namespace).Create(ctx, d, metav1.CreateOptions{})
	case 3:
		// Headless: the stack's Service range could not hold 25,000 addresses.
		s := &corev1.Service{ObjectMeta: meta, Spec: corev1.ServiceSpec{ClusterIP: corev1.ClusterIPNone, Selector: map[string]string{"app": meta.Name},
			Ports: []corev1.ServicePort{{Port: 80}}}}
		_, err = core.Services(meta.Namespace).Create(ctx, s, metav1.CreateOptions{})
	}
	return err
}

// snapshot creates the target on a fresh server process and measures its
// snapshot: time, peak RSS, and the RSS it keeps once idle.
func (p *scalePhase) snapshot(ctx context.Context) error {
	if err := p.restartServer(ctx); err != nil {
		return err
	}
	if err := p.st.WaitAPIServiceAvailable(ctx); err != nil {
		return err
	}
	p.probe.waitIdle(ctx)
	base, _ := rssKB(p.st.Server.Pid())
	if err := p.setupGitProvider(ctx, scaleHome, scaleRepo, scaleRepo, ""); err != nil {
		return err
	}
	var resources []v1alpha1.ClusterResourceRule
	for _, r := range []struct{ group, resource string }{{"", "configmaps"}, {"", "secrets"}, {"apps", "deployments"}, {"", "services"}} {
		resources = append(resources, v1alpha1.ClusterResourceRule{APIGroups: []string{r.group}, Resources: []string{r.resource}, Scope: v1alpha1.NamespacedScope,
			NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{scaleLabel: "true"}}})
	}
	cwr := &v1alpha1.ClusterWatchRule{ObjectMeta: metav1.ObjectMeta{Name: "bench-scale"},
		Spec: v1alpha1.ClusterWatchRuleSpec{TargetRef: v1alpha1.NamespacedTargetReference{Name: scaleTarget, Namespace: scaleHome}, Rules: resources}}
	if _, err := p.cbDirect.ConfigbutlerV1alpha1().ClusterWatchRules().Create(ctx, cwr, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	prof := p.probe.startCPUProfile("scale-snapshot", 30)
	t := &v1alpha1.GitTarget{ObjectMeta: metav1.ObjectMeta{Name: scaleTarget, Namespace: scaleHome},
		Spec: v1alpha1.GitTargetSpec{ProviderRef: v1alpha1.GitProviderReference{Name: scaleRepo}, Branch: "main", Path: scalePath,
			Encryption: &v1alpha1.EncryptionSpec{Provider: v1alpha1.EncryptionProviderSOPS, SecretRef: v1alpha1.LocalSecretReference{Name: "scale-age"}, GenerateWhenMissing: true}}}
	if _, err := p.cbDirect.ConfigbutlerV1alpha1().GitTargets(scaleHome).Create(ctx, t, metav1.CreateOptions{}); err != nil {
		return err
	}
	got, err := p.waitSnapshotOf(ctx, scaleHome, scaleTarget, time.Time{}, 30*time.Minute)
	if err != nil {
		return err
	}
	prof()
	snap := got.Status.Snapshot
	if int(snap.Stats.Created) != p.n {
		return fmt.Errorf("scale: the snapshot created %d files, want %d (stats %+v)", snap.Stats.Created, p.n, snap.Stats)
	}
	if err := p.checkTree(); err != nil {
		return err
	}
	_, peak := rssKB(p.st.Server.Pid())
	p.probe.heapProfile(ctx, "scale-snapshot")
	p.probe.waitIdle(ctx)
	steady, _ := rssKB(p.st.Server.Pid())
	p.probe.memNote(ctx, "scale: idle after the snapshot")
	n := float64(p.n)
	p.res.add(figure{Name: fmt.Sprintf("scale: snapshot of %d objects (4 types, %d namespaces, Secrets encrypted)", p.n, p.namespaces), Unit: "s", Ours: snap.Duration.Seconds()}, 0, 0)
	p.res.add(figure{Name: fmt.Sprintf("scale: peak RSS, snapshot of %d objects", p.n), Unit: "MiB", Ours: float64(peak) / 1024}, 0, 400)
	p.res.add(figure{Name: "scale: peak RSS per mirrored object, above the idle server", Unit: "KiB", Ours: float64(peak-base) / n}, 0, 3)
	p.res.add(figure{Name: "scale: RSS kept per mirrored object, idle after the snapshot", Unit: "KiB", Ours: float64(steady-base) / n}, 0, 0)
	p.res.note("scale: idle server %d MiB before the target, %d MiB idle after its snapshot; snapshot stats %+v", base/1024, steady/1024, snap.Stats)
	return nil
}

// checkTree counts the pushed files of each type.
func (p *scalePhase) checkTree() error {
	counts := map[string]int{}
	for _, l := range strings.Split(gitOut(p.bare, "ls-tree", "-r", "--name-only", "main", scalePath), "\n") {
		for _, k := range scaleKinds {
			if strings.HasPrefix(l, scalePath+"/"+k.dir+"/") {
				counts[k.kind]++
			}
		}
	}
	for i, k := range scaleKinds {
		want := p.n / 4
		if i < p.n%4 {
			want++
		}
		if counts[k.kind] != want {
			return fmt.Errorf("scale: the pushed tree holds %d %s files, want %d", counts[k.kind], k.kind, want)
		}
	}
	return nil
}

// resnapshot: our server stopped, 100 ConfigMaps changed, started again.
func (p *scalePhase) resnapshot(ctx context.Context) error {
	p.st.StopServer()
	changed := p.opts.changed
	for c := 0; c < changed; c++ {
		i := 4 * (c * (p.n / 4) / changed) // ConfigMaps, spread over the namespaces
		patch := fmt.Sprintf(`{"data":{"payload":%q}}`, payload(i, 1))
		if _, err := p.kube.CoreV1().ConfigMaps(scaleNamespace(i, p.namespaces)).Patch(ctx, scaleName(i), types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
			return err
		}
	}
	restarted := time.Now()
	if err := p.st.StartServer(ctx); err != nil {
		return err
	}
	// From the server's readiness through its re-snapshot (and a little of
	// the quiet after it): where a restart's time goes at this size.
	prof := p.probe.startCPUProfile("scale-resnapshot", 5)
	got, err := p.waitSnapshotOf(ctx, scaleHome, scaleTarget, restarted, 10*time.Minute)
	prof()
	if err != nil {
		return err
	}
	if int(got.Status.Snapshot.Stats.Updated) != changed {
		return fmt.Errorf("scale: the re-snapshot updated %d files, want %d (stats %+v)", got.Status.Snapshot.Stats.Updated, changed, got.Status.Snapshot.Stats)
	}
	_, peak := rssKB(p.st.Server.Pid())
	p.res.add(figure{Name: fmt.Sprintf("scale: re-snapshot after restart, %d of %d changed", changed, p.n), Unit: "s", Ours: got.Status.Snapshot.Duration.Seconds()}, 0, 1)
	p.res.note("scale: peak RSS of the restarted server through its re-snapshot %d MiB", peak/1024)
	return nil
}

// stream patches the phase's ConfigMaps at -scale-rate per second for
// -scale-duration and measures change -> pushed, as the stream phase does.
func (p *scalePhase) stream(ctx context.Context) error {
	if err := p.waitTargetReadyIn(ctx, scaleHome, scaleTarget, 5*time.Minute); err != nil {
		return err
	}
	tip := strings.TrimSpace(gitOut(p.bare, "rev-parse", "refs/heads/main"))
	tr := &streamTracker{outstanding: map[int][]sent{}, pushedSeq: map[int]int{}}
	stopObs := tr.observing(ctx, p.bare, tip, scaleConfigMapIndex)
	rate, dur := p.opts.scaleRate, p.opts.scaleDuration
	configMaps := (p.n + 3) / 4
	var failed atomic.Int32
	prof := p.probe.startCPUProfile("scale-stream", 20)
	paced(time.Now(), rate, dur, 16, func(k int) {
		i := 4 * ((k - 1) * 7919 % configMaps) // spread over namespaces
		tr.sent(i, sent{seq: k, at: time.Now()})
		patch := fmt.Sprintf(`{"data":{"seq":"%d"}}`, k)
		if _, err := p.kube.CoreV1().ConfigMaps(scaleNamespace(i, p.namespaces)).Patch(ctx, scaleName(i), types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
			failed.Add(1)
		}
	})
	prof()
	stopObs()
	_, peak := rssKB(p.st.Server.Pid())
	lost := tr.pending()
	p.res.add(figure{Name: fmt.Sprintf("scale: stream at %d objects, %d/s for %s: change -> pushed p99", p.n, rate, dur), Unit: "s", Ours: percentile(tr.latencies, 99).Seconds()}, 0, 6)
	p.res.add(figure{Name: "scale: peak RSS, re-snapshot and stream", Unit: "MiB", Ours: float64(peak) / 1024}, 0, 400)
	p.res.note("scale: stream p50 %s, %d updates, %d failed writes, %d never reached Git", percentile(tr.latencies, 50).Round(time.Millisecond), len(tr.latencies), failed.Load(), lost)
	if lost > 0 || failed.Load() > 0 {
		return fmt.Errorf("scale stream: %d updates never reached Git, %d writes failed", lost, failed.Load())
	}
	return nil
}

// scaleConfigMapIndex is the object index of a scale ConfigMap's file path.
func scaleConfigMapIndex(path string) (int, bool) {
	rest, ok := strings.CutPrefix(path, scalePath+"/v1/configmaps/")
	if !ok {
		return 0, false
	}
	_, file, _ := strings.Cut(rest, "/")
	i, err := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(file, "o-"), ".yaml"))
	return i, err == nil
}
