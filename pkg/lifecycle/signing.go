package lifecycle

import (
	"context"
	"errors"
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

// signers caches the outcome of parsing signing keys, failures included, by
// Secret (namespace, name, uid) and resourceVersion: a protected key's
// passphrase is stretched on every parse, and every target sync asks for the
// key, so a key (good or bad) costs one parse per change of its Secret. One
// entry is kept per Secret (a new resourceVersion replaces the old), at most
// maxSigners in all; concurrent askers of one version wait for a single parse.
type signers struct {
	mu      sync.Mutex
	entries map[string]*signerEntry // by Secret namespace/name/uid
}

// maxSigners bounds the cache; past it an arbitrary entry is dropped (it is
// parsed again when next asked for).
const maxSigners = 256

type signerEntry struct {
	resourceVersion string
	done            chan struct{} // closed when key and err are set
	key             *git.OpenPGPKey
	err             error
}

// parseSigningKey is git.ParseOpenPGPKey (tests count the parses).
var parseSigningKey = git.ParseOpenPGPKey

// get returns the parsed key of the Secret version id/rv (id names the
// Secret: namespace, name and uid), parsing it with parse unless it was (or
// is being) parsed already.
func (s *signers) get(id, rv string, parse func() (*git.OpenPGPKey, error)) (*git.OpenPGPKey, error) {
	s.mu.Lock()
	if e, ok := s.entries[id]; ok && e.resourceVersion == rv {
		s.mu.Unlock()
		<-e.done
		return e.key, e.err
	}
	if s.entries == nil {
		s.entries = map[string]*signerEntry{}
	}
	if _, ok := s.entries[id]; !ok && len(s.entries) >= maxSigners {
		for k := range s.entries {
			delete(s.entries, k)
			break
		}
	}
	// Until parse returns, the entry holds an error: never a nil key and nil
	// error (no signing) for a waiter, even if parse panicked.
	e := &signerEntry{resourceVersion: rv, done: make(chan struct{}), err: errors.New("the signing key could not be read")}
	s.entries[id] = e
	s.mu.Unlock()
	defer close(e.done)
	key, err := parse()
	e.key, e.err = key, err
	return key, err
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
	armored, found := secret.Data[SigningKeyKey]
	if !found {
		return nil, "", fmt.Errorf("signing key Secret %s/%s has no key %q", p.Namespace, name, SigningKeyKey)
	}
	key, err := s.signers.get(p.Namespace+"/"+name+"/"+string(secret.UID), secret.ResourceVersion, func() (*git.OpenPGPKey, error) {
		return parseSigningKey(armored, secret.Data[SigningPassphraseKey])
	})
	if err != nil {
		return nil, "", fmt.Errorf("signing key Secret %s/%s: %w", p.Namespace, name, err)
	}
	return key, string(secret.UID) + "/" + secret.ResourceVersion, nil
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
