package gates

import (
	"errors"
	"fmt"
	"net"
	"slices"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	utilnet "k8s.io/apimachinery/pkg/util/net"

	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler/v1alpha1"
	"github.com/configbutler/gitops-reverser/pkg/lifecycle/mirror"
	"github.com/configbutler/gitops-reverser/pkg/sops"
)

// KeySecret is the age key Secret of a target with encryption, as read from
// the source cluster (in the target's namespace).
type KeySecret struct {
	// Found tells whether the Secret exists; Data is its data.
	Found bool
	Data  map[string][]byte
	// Err is a failed read (not NotFound).
	Err error
	// Created: the Secret was missing and generateWhenMissing created it
	// (CreateErr when that failed).
	Created   bool
	CreateErr error
}

// encryption is the EncryptionConfigured gate over the key Secret. Keys ending
// ".agekey" hold age identities (Flux's convention). With generateWhenMissing a
// missing Secret is created (needCreate asks the edge to); an existing Secret
// is never changed.
func encryption(t *v1alpha1.GitTarget, s *KeySecret) (o Outcome, keys *mirror.Keys, needCreate bool) {
	enc := t.Spec.Encryption
	ref := t.Namespace + "/" + enc.SecretRef.Name
	switch {
	case s.CreateErr != nil:
		return False(v1alpha1.ReasonMissingSecret, fmt.Sprintf("Encryption secret %s is missing and could not be created: %v", ref, s.CreateErr)), nil, false
	case s.Err != nil:
		return False(v1alpha1.ReasonMissingSecret, fmt.Sprintf("Cannot read encryption secret %s: %v", ref, s.Err)), nil, false
	case !s.Found && !enc.Generates():
		return False(v1alpha1.ReasonSecretCreateDisabled, fmt.Sprintf("Encryption secret %s is missing and generateWhenMissing is false", ref)), nil, false
	case !s.Found:
		return Outcome{}, nil, true
	}
	ids, recipients, err := sops.ParseIdentities(s.Data)
	if errors.Is(err, sops.ErrNoAgeKey) {
		return False(v1alpha1.ReasonMissingSecret,
			fmt.Sprintf("Encryption secret %s has no age identity: no key ending in %q", ref, sops.AgeKeySuffix)), nil, false
	}
	if err != nil {
		// ParseIdentities names the key and line, never the key material.
		return False(v1alpha1.ReasonInvalidConfig, fmt.Sprintf("Encryption secret %s is invalid: %v", ref, err)), nil, false
	}
	// The server's own identities, and the public keys of whoever else is
	// to read the Secrets without the cluster (validated at admission).
	recipients = slices.Compact(slices.Sorted(slices.Values(append(recipients, enc.PublicKeys()...))))
	return True(v1alpha1.ReasonOK, MsgEncryptionOK), &mirror.Keys{Recipients: recipients, Identities: ids, Hash: sops.RecipientsHash(recipients)}, false
}

// Unreachable reports whether err means the source cluster did not answer (as
// opposed to answering no): such a failure says nothing about the target's
// configuration, so no gate flips to False for it.
func Unreachable(err error) bool {
	if err == nil {
		return false
	}
	if apierrors.IsServiceUnavailable(err) || apierrors.IsTimeout(err) || apierrors.IsServerTimeout(err) || apierrors.IsTooManyRequests(err) {
		return true
	}
	if utilnet.IsConnectionRefused(err) || utilnet.IsConnectionReset(err) || utilnet.IsProbableEOF(err) {
		return true
	}
	var netErr net.Error
	return errors.As(err, &netErr)
}
