package lifecycle

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler/v1alpha1"
	"github.com/configbutler/gitops-reverser/pkg/git"
)

// TestSigningKeyFailuresCached: a signing key that does not parse costs one
// parse per version of its Secret, however many syncs (concurrent ones
// included) ask for it; each asker gets the error. A new version is parsed
// again, and another Secret has its own entry.
func TestSigningKeyFailuresCached(t *testing.T) {
	var parses atomic.Int32
	defer func(old func([]byte, []byte) (*git.OpenPGPKey, error)) { parseSigningKey = old }(parseSigningKey)
	parseSigningKey = func(armored, passphrase []byte) (*git.OpenPGPKey, error) {
		parses.Add(1)
		return git.ParseOpenPGPKey(armored, passphrase)
	}

	ctx := context.Background()
	secret := func(name, rv string) *corev1.Secret {
		return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "sut", Name: name, UID: types.UID("uid-" + name), ResourceVersion: rv},
			Data: map[string][]byte{SigningKeyKey: []byte("-----BEGIN PGP PRIVATE KEY BLOCK-----\n\nAAAA\n-----END PGP PRIVATE KEY BLOCK-----\n")}}
	}
	kube := fake.NewClientset(secret("signing", "1"), secret("other", "1"))
	s := newSource(kube, nil, nil)
	provider := func(name string) *v1alpha1.GitProvider {
		return &v1alpha1.GitProvider{ObjectMeta: metav1.ObjectMeta{Namespace: "sut", Name: "p"},
			Spec: v1alpha1.GitProviderSpec{Commit: &v1alpha1.CommitSpec{SigningKeyRef: &v1alpha1.LocalObjectReference{Name: name}}}}
	}
	ask := func(name string, n int) {
		t.Helper()
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for range n {
			wg.Go(func() {
				key, _, err := s.signingKey(ctx, provider(name), nil)
				if key != nil {
					t.Error("a key from garbage")
				}
				errs <- err
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err == nil || !strings.Contains(err.Error(), "signing key Secret sut/"+name+": not an armored OpenPGP private key") {
				t.Fatalf("error %v", err)
			}
		}
	}
	ask("signing", 20)
	ask("signing", 5)
	if n := parses.Load(); n != 1 {
		t.Fatalf("%d parses of one Secret version, want 1", n)
	}
	ask("other", 3)
	if n := parses.Load(); n != 2 {
		t.Fatalf("%d parses after another Secret, want 2", n)
	}
	if _, err := kube.CoreV1().Secrets("sut").Update(ctx, secret("signing", "2"), metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	ask("signing", 3)
	if n := parses.Load(); n != 3 {
		t.Fatalf("%d parses after the Secret changed, want 3", n)
	}
}
