package main

import (
	"context"
	"fmt"
	"os"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler/v1alpha1"
	"github.com/configbutler/gitops-reverser/pkg/generated/clientset/versioned"
	"github.com/configbutler/gitops-reverser/test/stack"
)

// env is the running stack and its clients, and the steps the phases share:
// namespaces, Git providers, restarting our server, waiting for targets. The
// measurements live in the phases (apiPhase, snapshotPhase, ...), which embed
// it; probe watches our server's process, res collects the figures.
type env struct {
	opts     options
	st       *stack.Stack
	admin    *rest.Config // kube-apiserver (aggregator), admin
	direct   *rest.Config // our server, straight
	kube     kubernetes.Interface
	dyn      dynamic.Interface
	cb       versioned.Interface // through the aggregator
	cbDirect versioned.Interface
	probe    *serverProbe
	res      *results
	// streams are the stream runs by attribution variant ("" the stack's).
	streams map[string]streamRun
}

// newEnv makes the clients of a started stack: as the administrator through
// kube-apiserver and straight to our server, both allowed far more requests
// per second than the load needs.
func newEnv(o options, st *stack.Stack) (*env, error) {
	e := &env{opts: o, st: st, res: newResults()}
	var err error
	if e.admin, err = clientcmd.BuildConfigFromFlags("", st.AdminKubeconfig); err != nil {
		return nil, err
	}
	if e.direct, err = clientcmd.BuildConfigFromFlags("", st.DirectKubeconfig); err != nil {
		return nil, err
	}
	for _, c := range []*rest.Config{e.admin, e.direct} {
		c.QPS, c.Burst = 5000, 10000
	}
	e.kube = kubernetes.NewForConfigOrDie(e.admin)
	e.dyn = dynamic.NewForConfigOrDie(e.admin)
	e.cb = versioned.NewForConfigOrDie(e.admin)
	e.cbDirect = versioned.NewForConfigOrDie(e.direct)
	e.probe = &serverProbe{st: st, direct: e.direct, out: o.out, res: e.res}
	return e, nil
}

func (e *env) ensureNamespace(ctx context.Context, ns string) error {
	_, err := e.kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	// A new namespace reaches every admission cache shortly after.
	return poll(ctx, 30*time.Second, func() error {
		_, err := e.kube.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{Limit: 1})
		return err
	})
}

// setupGitProvider creates a bare repository on the stack's git server, its
// credentials Secret and a GitProvider for it (interval "" keeps the default).
func (e *env) setupGitProvider(ctx context.Context, ns, name, repo, interval string) error {
	if _, err := os.Stat(e.st.Git.RepoPath(repo)); err != nil {
		if _, err := e.st.Git.CreateBareRepo(repo); err != nil {
			return err
		}
	}
	sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "git-credentials", Namespace: ns},
		StringData: map[string]string{"username": "gitops", "password": e.st.GitPassword}}
	if _, err := e.kube.CoreV1().Secrets(ns).Create(ctx, sec, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	p := &v1alpha1.GitProvider{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: v1alpha1.GitProviderSpec{
			URL:             e.st.Git.URL(repo),
			SecretRef:       &v1alpha1.LocalSecretReference{Name: "git-credentials"},
			AllowedBranches: []string{"*"},
		},
	}
	if interval != "" {
		d, err := time.ParseDuration(interval)
		if err != nil {
			return err
		}
		p.Spec.Push.Interval = metav1.Duration{Duration: d}
	}
	_, err := e.cbDirect.ConfigbutlerV1alpha1().GitProviders(ns).Create(ctx, p, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	return err
}

// restartServer stops and starts our server (same data, same etcd).
func (e *env) restartServer(ctx context.Context) error {
	e.st.StopServer()
	return e.st.StartServer(ctx)
}

// restartServerWith restarts our server with extra flags (none: as the stack
// starts it) and waits until kube-apiserver serves our API again.
func (e *env) restartServerWith(ctx context.Context, args ...string) error {
	e.st.StopServer()
	if err := e.st.StartServer(ctx, args...); err != nil {
		return err
	}
	return e.st.WaitAPIServiceAvailable(ctx)
}

// waitTargetReady waits until the snapshot target is Ready.
func (e *env) waitTargetReady(ctx context.Context, timeout time.Duration) error {
	return e.waitTargetReadyIn(ctx, snapNamespace, snapTarget, timeout)
}

// waitTargetReadyIn waits until the target ns/name is Ready.
func (e *env) waitTargetReadyIn(ctx context.Context, ns, name string, timeout time.Duration) error {
	return poll(ctx, timeout, func() error {
		t, err := e.cbDirect.ConfigbutlerV1alpha1().GitTargets(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		for _, c := range t.Status.Conditions {
			if c.Type == v1alpha1.ConditionReady && c.Status == metav1.ConditionTrue {
				return nil
			}
		}
		return fmt.Errorf("%s/%s not Ready", ns, name)
	})
}

// waitSnapshotOf polls (straight to our server) until the target's
// SnapshotSynced is True with a snapshot completed after since.
func (e *env) waitSnapshotOf(ctx context.Context, ns, name string, since time.Time, timeout time.Duration) (*v1alpha1.GitTarget, error) {
	deadline := time.Now().Add(timeout)
	last := ""
	for {
		t, err := e.cbDirect.ConfigbutlerV1alpha1().GitTargets(ns).Get(ctx, name, metav1.GetOptions{})
		if err == nil {
			for _, c := range t.Status.Conditions {
				if c.Type != v1alpha1.ConditionSnapshotSynced {
					continue
				}
				if s := c.Status + "/" + metav1.ConditionStatus(c.Reason); string(s) != last {
					fmt.Fprintf(os.Stderr, "[bench] SnapshotSynced=%s %s\n", s, c.Message)
					last = string(s)
				}
				snap := t.Status.Snapshot
				if c.Status == metav1.ConditionTrue && snap != nil && snap.LastCompletedTime != nil &&
					!snap.LastCompletedTime.Time.Before(since.Truncate(time.Second)) {
					return t, nil
				}
			}
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("SnapshotSynced not True after %s (last %s, err %v)", timeout, last, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// removeTargets deletes the GitTargets of a phase's namespace once it has
// measured, and waits until they are gone: a target left behind would come up
// again on every restart of our server in the phases after it (the history
// phase's clones 20,000 commits) and be counted in their times and memory.
func removeTargets(ctx context.Context, cb versioned.Interface, ns string) error {
	targets := cb.ConfigbutlerV1alpha1().GitTargets(ns)
	if err := targets.DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{}); err != nil {
		return fmt.Errorf("removing the GitTargets of %s: %w", ns, err)
	}
	return poll(ctx, 2*time.Minute, func() error {
		l, err := targets.List(ctx, metav1.ListOptions{})
		if err == nil && len(l.Items) > 0 {
			err = fmt.Errorf("%d GitTarget(s) of %s still there", len(l.Items), ns)
		}
		return err
	})
}
