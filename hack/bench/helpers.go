package main

import (
	"context"
	"os"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler/v1alpha1"
)

// --- shared helpers ---------------------------------------------------------

func rawClient(c *rest.Config) rest.Interface {
	return kubernetes.NewForConfigOrDie(c).CoreV1().RESTClient()
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
			SecretRef:       &v1alpha1.LocalObjectReference{Name: "git-credentials"},
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

// parallel runs fn(0..n-1) on workers goroutines and returns the first error.
func parallel(n, workers int, fn func(i int) error) error {
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	next := make(chan int)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := fn(i); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
				}
			}
		}()
	}
	for i := 0; i < n; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
	return first
}

func poll(ctx context.Context, timeout time.Duration, fn func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := fn()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}
