package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/go-git/go-git/v5/plumbing/transport"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"

	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler/v1alpha1"
	"github.com/configbutler/gitops-reverser/pkg/git"
	"github.com/configbutler/gitops-reverser/pkg/lifecycle/gates"
	"github.com/configbutler/gitops-reverser/pkg/tenancy"
)

// Reasons of the Ready condition of GitProviders, WatchRules and ClusterWatchRules.
const (
	ReasonSecretNotFound      = "SecretNotFound"
	ReasonInvalidCredentials  = "InvalidCredentials"
	ReasonRemoteUnreachable   = "RemoteUnreachable"
	ReasonTargetNotFound      = "TargetNotFound"
	ReasonNoMatchingResources = "NoMatchingResources"
	ReasonDiscoveryFailed     = "DiscoveryFailed"
	// ReasonServerMayNotRead: a rule's wildcards left out every type they
	// select, the server may read none of them (serverreads.go).
	ReasonServerMayNotRead = "ServerMayNotRead"
)

// providerReconciler sets GitProviders' Ready.
type providerReconciler struct{ *shared }

// sync sets a GitProvider's Ready: its credentials Secret is present and well
// formed, and the remote answers ls-remote with them. The remote is probed
// again every ProviderRecheck (reachability has no watch to tell us).
func (r *providerReconciler) sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	p, err := r.listers.providers.GitProviders(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	r.queues.providers.AddAfter(key, r.opts.ProviderRecheck)
	if !r.prefers("GitProvider/" + key) {
		return nil
	}
	ready, signing := r.ready(ctx, p), r.signing(ctx, p)
	if signing.err != nil && ready.Status == metav1.ConditionTrue {
		ready = gates.False(ReasonInvalidSigningKey, "Nothing is committed through this provider: "+signing.err.Error())
	}
	return writeReady(ctx, r.shared, r.opts.Writers.GitProviders, ns, name, p.Generation, ready, func(obj runtime.Object) bool {
		st := &obj.(*v1alpha1.GitProvider).Status
		if equality.Semantic.DeepEqual(st.Signing, signing.status) {
			return false
		}
		st.Signing = signing.status
		return true
	})
}

type providerSigning struct {
	status *v1alpha1.SigningStatus
	err    error
}

// signing shows the public half of the provider's signing key in status.
func (r *providerReconciler) signing(ctx context.Context, p *v1alpha1.GitProvider) providerSigning {
	key, _, err := r.source.signingKey(ctx, p, nil)
	if err != nil || key == nil {
		return providerSigning{err: err}
	}
	return providerSigning{status: &v1alpha1.SigningStatus{Fingerprint: key.Fingerprint, PublicKey: key.PublicKey}}
}

func (r *providerReconciler) ready(ctx context.Context, p *v1alpha1.GitProvider) gates.Outcome {
	var data map[string][]byte
	if ref := p.Spec.SecretRef; ref != nil {
		if err := r.source.mayUse(ctx, p.Status.AuthorizedBy, "GitProvider "+p.Namespace+"/"+p.Name,
			tenancy.SecretGet(p.Namespace, ref.Name, "spec.secretRef.name")); err != nil {
			return gates.False(ReasonForbidden, "The credentials are not used: "+err.Error())
		}
		if r.source.kube == nil {
			return gates.False(ReasonSecretNotFound, "Credentials Secret cannot be read: the server has no source cluster (--kubeconfig)")
		}
		s, err := r.source.kube.CoreV1().Secrets(p.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return gates.False(ReasonSecretNotFound, fmt.Sprintf("Credentials Secret %s/%s not found", p.Namespace, ref.Name))
		}
		if err != nil {
			return gates.False(ReasonSecretNotFound, fmt.Sprintf("Credentials Secret %s/%s cannot be read: %v", p.Namespace, ref.Name, err))
		}
		data = s.Data
	}
	auth, err := providerAuth(p, data)
	if err != nil {
		return gates.False(ReasonInvalidCredentials, "Credentials are not usable: "+err.Error())
	}
	lctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	n, err := git.LsRemote(lctx, p.Spec.URL, auth)
	if err != nil {
		// The status says what kind of failure, never what the remote answered
		// (see git.Describe); the log has the whole error.
		klog.InfoS("GitProvider remote check failed", "provider", p.Namespace+"/"+p.Name, "err", err)
	}
	if errors.Is(err, transport.ErrAuthenticationRequired) || errors.Is(err, transport.ErrAuthorizationFailed) {
		return gates.False(ReasonInvalidCredentials, fmt.Sprintf("Remote %s refused the credentials: %s", git.Redact(p.Spec.URL), git.Describe(err)))
	}
	if err != nil {
		return gates.False(ReasonRemoteUnreachable, fmt.Sprintf("Remote %s did not answer: %s", git.Redact(p.Spec.URL), git.Describe(err)))
	}
	return gates.True(v1alpha1.ReasonOK, fmt.Sprintf("Remote reachable with the given credentials (%d refs)", n))
}
