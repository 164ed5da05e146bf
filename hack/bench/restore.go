package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"

	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler/v1alpha1"
	"github.com/configbutler/gitops-reverser/pkg/generated/clientset/versioned"
)

const (
	restNamespace = "bench-restore"
	restRepo      = "bench-restore"
	restPath      = "mirror"
	restObjects   = 1000
	// restUser restores: bound to cluster-admin, as restores impersonate
	// their author and nobody may impersonate system:masters.
	restUser = "bench-restorer"
)

// restorePhase: a namespace of 1,000 ConfigMaps is mirrored, its ConfigMaps
// deleted, and brought back from the commit that held them, once with
// `kubectl apply --server-side` of the files of that commit and once with a
// GitRestore; each write as the same cluster-admin user.
type restorePhase struct {
	*env
	bare string
	dir  string // the commit's files, for kubectl
}

func (e *env) benchRestore(ctx context.Context) error {
	dir, err := os.MkdirTemp("", "bench-restore-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	return (&restorePhase{env: e, bare: e.st.Git.RepoPath(restRepo), dir: dir}).run(ctx)
}

func (p *restorePhase) run(ctx context.Context) error {
	if err := p.setup(ctx); err != nil {
		return err
	}
	if err := p.waitFiles(ctx, restObjects); err != nil {
		return err
	}
	commit := p.tip()
	if err := p.checkout(commit); err != nil {
		return err
	}
	if err := p.deleteAll(ctx); err != nil {
		return err
	}
	t0 := time.Now()
	if out, err := p.st.Kubectl("--as="+restUser, "apply", "--server-side", "-R", "-f", p.dir); err != nil {
		return fmt.Errorf("kubectl apply: %v: %s", err, out)
	}
	kubectl := time.Since(t0)
	if err := p.count(ctx, restObjects); err != nil {
		return err
	}
	if err := p.waitFiles(ctx, restObjects); err != nil {
		return err
	}
	if err := p.deleteAll(ctx); err != nil {
		return err
	}
	ours, gr, err := p.restore(ctx, commit)
	if err != nil {
		return err
	}
	if err := p.count(ctx, restObjects); err != nil {
		return err
	}
	p.res.add(figure{Name: fmt.Sprintf("restore a namespace of %d ConfigMaps (GitRestore, created to Complete)", restObjects), Unit: "s",
		Ours: ours.Seconds(), Baseline: kubectl.Seconds(), BaselineName: "kubectl apply --server-side"}, 1.5, 0)
	p.res.note("restore: the server's own time %s (status start to completion), %d created",
		gr.Status.CompletionTime.Sub(gr.Status.StartTime.Time), gr.Status.Summary.Created)
	return removeTargets(ctx, p.cbDirect, restNamespace)
}

// setup creates the namespace, a target mirroring its ConfigMaps, the
// ConfigMaps, and the restoring user.
func (p *restorePhase) setup(ctx context.Context) error {
	if err := p.ensureNamespace(ctx, restNamespace); err != nil {
		return err
	}
	if err := p.setupGitProvider(ctx, restNamespace, restRepo, restRepo, "1s"); err != nil {
		return err
	}
	wr := &v1alpha1.WatchRule{ObjectMeta: metav1.ObjectMeta{Name: "configmaps", Namespace: restNamespace},
		Spec: v1alpha1.WatchRuleSpec{TargetRef: v1alpha1.LocalTargetReference{Name: "mirror"},
			Rules: []v1alpha1.ResourceRule{{APIGroups: []string{""}, Resources: []string{"configmaps"}}}}}
	if _, err := p.cbDirect.ConfigbutlerV1alpha1().WatchRules(restNamespace).Create(ctx, wr, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	t := &v1alpha1.GitTarget{ObjectMeta: metav1.ObjectMeta{Name: "mirror", Namespace: restNamespace},
		Spec: v1alpha1.GitTargetSpec{ProviderRef: v1alpha1.GitProviderReference{Name: restRepo}, Branch: "main", Path: restPath}}
	if _, err := p.cbDirect.ConfigbutlerV1alpha1().GitTargets(restNamespace).Create(ctx, t, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	crb := &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: restUser},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "cluster-admin"},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: restUser}}}
	if _, err := p.kube.RbacV1().ClusterRoleBindings().Create(ctx, crb, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	return parallel(restObjects, 32, func(i int) error {
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: cmName(i), Namespace: restNamespace,
			Labels: map[string]string{"app.kubernetes.io/part-of": "bench"}},
			Data: map[string]string{"payload": payload(i, 0)}}
		_, err := p.kube.CoreV1().ConfigMaps(restNamespace).Create(ctx, cm, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			return nil
		}
		return err
	})
}

func (p *restorePhase) tip() string {
	out, _ := exec.Command("git", "-C", p.bare, "rev-parse", "main").Output()
	return strings.TrimSpace(string(out))
}

// waitFiles waits until the branch holds n files of the namespace's
// ConfigMaps (the mirror is quiet again before the next step).
func (p *restorePhase) waitFiles(ctx context.Context, n int) error {
	prefix := restPath + "/v1/configmaps/" + restNamespace + "/"
	return poll(ctx, 5*time.Minute, func() error {
		out, err := exec.Command("git", "-C", p.bare, "ls-tree", "-r", "--name-only", "main", prefix).Output()
		if err != nil {
			return fmt.Errorf("git ls-tree: %v", err)
		}
		if got := strings.Count(string(out), "\n"); got != n {
			return fmt.Errorf("%d files in Git, want %d", got, n)
		}
		return nil
	})
}

// checkout writes the files of the namespace at commit into p.dir.
func (p *restorePhase) checkout(commit string) error {
	out, err := exec.Command("git", "-C", p.bare, "archive", "--format=tar", commit, restPath).Output()
	if err != nil {
		return fmt.Errorf("git archive: %v", err)
	}
	tar := exec.Command("tar", "-x", "-C", p.dir)
	tar.Stdin = strings.NewReader(string(out))
	if b, err := tar.CombinedOutput(); err != nil {
		return fmt.Errorf("tar: %v: %s", err, b)
	}
	files, _ := filepath.Glob(filepath.Join(p.dir, restPath, "v1", "configmaps", restNamespace, "*.yaml"))
	if len(files) != restObjects {
		return fmt.Errorf("%d files at %s, want %d", len(files), commit, restObjects)
	}
	return nil
}

// deleteAll deletes the ConfigMaps and waits until Git holds none.
func (p *restorePhase) deleteAll(ctx context.Context) error {
	if err := p.kube.CoreV1().ConfigMaps(restNamespace).DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{}); err != nil {
		return err
	}
	if err := p.count(ctx, 0); err != nil {
		return err
	}
	return p.waitFiles(ctx, 0)
}

func (p *restorePhase) count(ctx context.Context, n int) error {
	return poll(ctx, time.Minute, func() error {
		l, err := p.kube.CoreV1().ConfigMaps(restNamespace).List(ctx, metav1.ListOptions{})
		if err == nil && len(l.Items) != n {
			err = fmt.Errorf("%d ConfigMaps, want %d", len(l.Items), n)
		}
		return err
	})
}

// restore creates a GitRestore of the namespace at commit as restUser and
// waits until it is Complete.
func (p *restorePhase) restore(ctx context.Context, commit string) (time.Duration, *v1alpha1.GitRestore, error) {
	c := rest.CopyConfig(p.admin)
	c.Impersonate = rest.ImpersonationConfig{UserName: restUser}
	cb := versioned.NewForConfigOrDie(c).ConfigbutlerV1alpha1().GitRestores(restNamespace)
	gr := &v1alpha1.GitRestore{ObjectMeta: metav1.ObjectMeta{Name: "back", Namespace: restNamespace},
		Spec: v1alpha1.GitRestoreSpec{Target: &v1alpha1.GitRestoreTarget{Name: "mirror"}, Commit: commit, Namespaces: []string{restNamespace}}}
	t0 := time.Now()
	if _, err := cb.Create(ctx, gr, metav1.CreateOptions{}); err != nil {
		return 0, nil, err
	}
	// Polled every 20 ms (poll's 200 ms would be most of the error).
	var got *v1alpha1.GitRestore
	for done := false; !done; {
		if time.Since(t0) > 5*time.Minute {
			return 0, nil, fmt.Errorf("GitRestore not complete after 5m: %+v", got)
		}
		time.Sleep(20 * time.Millisecond)
		var err error
		if got, err = p.cbDirect.ConfigbutlerV1alpha1().GitRestores(restNamespace).Get(ctx, gr.Name, metav1.GetOptions{}); err != nil {
			return 0, nil, err
		}
		for _, cond := range got.Status.Conditions {
			done = done || cond.Type == "Complete" && cond.Status != metav1.ConditionUnknown
		}
	}
	wall := time.Since(t0)
	if s := got.Status.Summary; s.Created != restObjects || s.Failed != 0 {
		return 0, nil, fmt.Errorf("GitRestore: %+v", s)
	}
	return wall, got, nil
}
