package lifecycle

import (
	"context"
	"fmt"
	"strings"

	"filippo.io/age"
	"github.com/go-git/go-git/v5/plumbing/transport"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler/v1alpha1"
	"github.com/configbutler/gitops-reverser/pkg/clusterapi"
	"github.com/configbutler/gitops-reverser/pkg/git"
	"github.com/configbutler/gitops-reverser/pkg/lifecycle/gates"
	"github.com/configbutler/gitops-reverser/pkg/lifecycle/mirror"
	"github.com/configbutler/gitops-reverser/pkg/sops"
	"github.com/configbutler/gitops-reverser/pkg/tenancy"
)

// Annotations on a generated age key Secret.
const (
	AnnotationRecipient     = "configbutler.ai/age-recipient"
	AnnotationBackupWarning = "configbutler.ai/backup-warning"
	GeneratedKeyName        = "identity" + sops.AgeKeySuffix
	backupWarning           = "This Secret holds the only copy of the age identity that decrypts the *.sops.yaml files written to Git. Back it up: without it they cannot be decrypted."
)

// source is the edge to the source cluster: Secrets (read one at a time, when
// a gate needs it; never cached), discovery (cached, shared with admission)
// and, with tenancy, the review of recorded identities.
type source struct {
	kube      kubernetes.Interface
	resources *clusterapi.Resources
	// reviewer reviews recorded identities (nil: no tenancy checks).
	reviewer *tenancy.Reviewer
	// self is the server's own user in the source cluster and selfReviewer
	// the reviewer of its reads (either nil: wildcards keep every type, see
	// serverreads.go).
	self         func(ctx context.Context) (*v1alpha1.AuthorizedIdentity, error)
	selfReviewer *tenancy.Reviewer
	signers      signers
}

func newSource(kube kubernetes.Interface, resources *clusterapi.Resources, reviewer *tenancy.Reviewer) *source {
	return &source{kube: kube, resources: resources, reviewer: reviewer}
}

// keySecret reads the age key Secret of a target.
func (s *source) keySecret(ctx context.Context, ns, name string) *gates.KeySecret {
	secret, err := s.kube.CoreV1().Secrets(ns).Get(ctx, name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return &gates.KeySecret{}
	case err != nil:
		return &gates.KeySecret{Err: err}
	}
	return &gates.KeySecret{Found: true, Data: secret.Data}
}

// createKeySecret creates the key Secret of a target with a new X25519
// identity. A concurrent creation wins: AlreadyExists reads the Secret that is
// there. An existing Secret is never changed.
func (s *source) createKeySecret(ctx context.Context, t *v1alpha1.GitTarget) *gates.KeySecret {
	ns, name := t.Namespace, t.Spec.Encryption.SecretRef.Name
	id, err := age.GenerateX25519Identity()
	if err != nil {
		return &gates.KeySecret{CreateErr: err}
	}
	recipient := id.Recipient().String()
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Name:      name,
			Namespace: ns,
			Labels:    map[string]string{"app.kubernetes.io/managed-by": "gitops-reverser"},
			Annotations: map[string]string{
				AnnotationRecipient:             recipient,
				AnnotationBackupWarning:         backupWarning,
				"configbutler.ai/generated-for": "GitTarget " + t.Namespace + "/" + t.Name,
			},
		},
		Type: corev1.SecretTypeOpaque,
		Data: map[string][]byte{
			GeneratedKeyName: []byte(strings.Join([]string{
				"# created by gitops-reverser for GitTarget " + t.Namespace + "/" + t.Name,
				"# public key: " + recipient,
				id.String(),
			}, "\n") + "\n"),
		},
	}
	created, err := s.kube.CoreV1().Secrets(ns).Create(ctx, secret, metav1.CreateOptions{FieldManager: "gitops-reverser"})
	if apierrors.IsAlreadyExists(err) {
		ks := s.keySecret(ctx, ns, name)
		return ks
	}
	if err != nil {
		return &gates.KeySecret{CreateErr: err}
	}
	return &gates.KeySecret{Found: true, Data: created.Data, Created: true}
}

// credentials builds a worker's configuration from the provider and its
// credentials Secret, used for target t: both the provider's and the target's
// users must still be allowed to get the Secret.
func (s *source) credentials(ctx context.Context, p *v1alpha1.GitProvider, t *v1alpha1.GitTarget) *gates.Credentials {
	cfg := mirror.WorkerConfig{URL: p.Spec.URL, Interval: p.Spec.Push.Interval.Duration, MaxChanges: int(p.Spec.Push.MaxChanges), PushAt: p.Spec.Push.PushAt()}
	if cfg.Interval <= 0 {
		cfg.Interval = v1alpha1.DefaultPushInterval
	}
	if cfg.MaxChanges <= 0 {
		cfg.MaxChanges = v1alpha1.DefaultPushMaxChanges
	}
	var data map[string][]byte
	if isFluxProvider(p) {
		// Used for the target's user, who must still get the GitRepository.
		if err := s.mayUse(ctx, t.Status.AuthorizedBy, "GitTarget "+t.Namespace+"/"+t.Name, tenancy.GitRepositoryGet(p.Namespace, p.Name, "")); err != nil {
			return &gates.Credentials{Config: cfg, Err: err}
		}
	}
	if p.Spec.SecretRef != nil {
		get := tenancy.SecretGet(p.Namespace, p.Spec.SecretRef.Name, "")
		if !isFluxProvider(p) { // a GitRepository records no user: the target's is reviewed below
			if err := s.mayUse(ctx, p.Status.AuthorizedBy, "GitProvider "+p.Namespace+"/"+p.Name, get); err != nil {
				return &gates.Credentials{Config: cfg, Err: err}
			}
		}
		if err := s.mayUse(ctx, t.Status.AuthorizedBy, "GitTarget "+t.Namespace+"/"+t.Name, get); err != nil {
			return &gates.Credentials{Config: cfg, Err: err}
		}
		if s.kube == nil {
			return &gates.Credentials{Config: cfg, Err: fmt.Errorf("credentials Secret %s/%s cannot be read: the server has no source cluster (--kubeconfig)", p.Namespace, p.Spec.SecretRef.Name)}
		}
		secret, err := s.kube.CoreV1().Secrets(p.Namespace).Get(ctx, p.Spec.SecretRef.Name, metav1.GetOptions{})
		if err != nil {
			return &gates.Credentials{Config: cfg, Err: fmt.Errorf("credentials Secret %s/%s: %w", p.Namespace, p.Spec.SecretRef.Name, err)}
		}
		data = secret.Data
		cfg.AuthID = string(secret.UID) + "/" + secret.ResourceVersion
	}
	auth, err := providerAuth(p, data)
	if err != nil {
		return &gates.Credentials{Config: cfg, Err: err}
	}
	cfg.Auth = auth
	// With a signing key configured, a key that cannot be used stops the
	// target (never an unsigned commit instead).
	key, keyID, err := s.signingKey(ctx, p, t)
	if err != nil {
		return &gates.Credentials{Config: cfg, Err: err}
	}
	cfg.Commit = commitStyle(p, key)
	cfg.CommitID = fmt.Sprintf("%s|%s|%s", keyID, cfg.Commit.CommitterName, cfg.Commit.CommitterEmail)
	return &gates.Credentials{Config: cfg}
}

// providerAuth builds the auth of a provider: from its Secret, or anonymous
// when it names none (a public HTTP(S) remote; SSH always needs a key).
func providerAuth(p *v1alpha1.GitProvider, data map[string][]byte) (transport.AuthMethod, error) {
	if p.Spec.SecretRef == nil && !strings.HasPrefix(p.Spec.URL, "ssh://") && strings.Contains(p.Spec.URL, "://") {
		return nil, nil
	}
	if isFluxProvider(p) {
		return git.AuthFromFluxSecret(p.Spec.URL, data)
	}
	return git.AuthFromSecret(p.Spec.URL, data)
}

// mayUse reviews whether the identity recorded on an object (ref) may still
// do c, which the server is about to do on its behalf.
func (s *source) mayUse(ctx context.Context, id *v1alpha1.AuthorizedIdentity, ref string, c tenancy.Check) error {
	if s.reviewer == nil {
		return nil
	}
	ok, err := s.reviewer.Allowed(ctx, id, c)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("%s", tenancy.Denial{Link: tenancy.Link{Ref: ref, Identity: id}, Check: c})
	}
	return nil
}

// typedEventSink writes events through the typed core/v1 client.
type typedEventSink struct{ kube kubernetes.Interface }

func (s *typedEventSink) Create(e *corev1.Event) (*corev1.Event, error) {
	return s.kube.CoreV1().Events(e.Namespace).Create(context.Background(), e, metav1.CreateOptions{})
}
func (s *typedEventSink) Update(e *corev1.Event) (*corev1.Event, error) {
	return s.kube.CoreV1().Events(e.Namespace).Update(context.Background(), e, metav1.UpdateOptions{})
}
func (s *typedEventSink) Patch(e *corev1.Event, data []byte) (*corev1.Event, error) {
	return s.kube.CoreV1().Events(e.Namespace).Patch(context.Background(), e.Name, "application/strategic-merge-patch+json", data, metav1.PatchOptions{})
}
