package lifecycle

import (
	"context"
	"fmt"
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler/v1alpha1"
	"github.com/configbutler/gitops-reverser/pkg/git"
	"github.com/configbutler/gitops-reverser/pkg/lifecycle/mirror"
	"github.com/configbutler/gitops-reverser/pkg/tenancy"
)

// Keys of a signing key Secret (GitProvider.spec.commit.signingKeyRef).
const (
	SigningKeyKey        = "signing.key"
	SigningPassphraseKey = "passphrase"
)

// ReasonInvalidSigningKey: the provider's signing key is missing or unusable;
// nothing is committed through it (never an unsigned commit instead).
const ReasonInvalidSigningKey = "InvalidSigningKey"

// signers caches parsed signing keys by Secret uid and resourceVersion: a
// protected key's passphrase is stretched on every parse, and every target
// sync asks for the key.
type signers struct {
	mu   sync.Mutex
	keys map[string]*git.OpenPGPKey
}

// signingKey reads the provider's signing key (nil, "" without one) and the
// identity of the Secret it came from. The users recorded on the way (the
// provider's, and the target's when t is set) must still be allowed to get
// the Secret: signing with a key lends its owner's name.
func (s *source) signingKey(ctx context.Context, p *v1alpha1.GitProvider, t *v1alpha1.GitTarget) (*git.OpenPGPKey, string, error) {
	c := p.Spec.Commit
	if c == nil || c.SigningKeyRef == nil {
		return nil, "", nil
	}
	name := c.SigningKeyRef.Name
	get := tenancy.SecretGet(p.Namespace, name, "spec.commit.signingKeyRef.name")
	if err := s.mayUse(ctx, p.Status.AuthorizedBy, "GitProvider "+p.Namespace+"/"+p.Name, get); err != nil {
		return nil, "", err
	}
	if t != nil {
		if err := s.mayUse(ctx, t.Status.AuthorizedBy, "GitTarget "+t.Namespace+"/"+t.Name, get); err != nil {
			return nil, "", err
		}
	}
	if s.kube == nil {
		return nil, "", fmt.Errorf("signing key Secret %s/%s cannot be read: the server has no source cluster (--kubeconfig)", p.Namespace, name)
	}
	secret, err := s.kube.CoreV1().Secrets(p.Namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, "", fmt.Errorf("signing key Secret %s/%s: %w", p.Namespace, name, err)
	}
	id := string(secret.UID) + "/" + secret.ResourceVersion
	s.signers.mu.Lock()
	key, ok := s.signers.keys[id]
	s.signers.mu.Unlock()
	if ok {
		return key, id, nil
	}
	armored, found := secret.Data[SigningKeyKey]
	if !found {
		return nil, "", fmt.Errorf("signing key Secret %s/%s has no key %q", p.Namespace, name, SigningKeyKey)
	}
	key, err = git.ParseOpenPGPKey(armored, secret.Data[SigningPassphraseKey])
	if err != nil {
		return nil, "", fmt.Errorf("signing key Secret %s/%s: %w", p.Namespace, name, err)
	}
	s.signers.mu.Lock()
	if s.signers.keys == nil || len(s.signers.keys) > 256 {
		s.signers.keys = map[string]*git.OpenPGPKey{}
	}
	s.signers.keys[id] = key
	s.signers.mu.Unlock()
	return key, id, nil
}

// commitStyle is the provider's spec.commit for the branch worker, signing
// with key when set.
func commitStyle(p *v1alpha1.GitProvider, key *git.OpenPGPKey) mirror.CommitStyle {
	var style mirror.CommitStyle
	if c := p.Spec.Commit; c != nil {
		style = mirror.CommitStyle{CommitterName: c.CommitterName, CommitterEmail: c.CommitterEmail,
			AuthorName: c.AuthorName, AuthorEmail: c.AuthorEmail, Message: c.Message}
	}
	if key != nil {
		style.Sign = key.Sign
	}
	return style
}
