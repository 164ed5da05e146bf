package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"

	"filippo.io/age"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilnet "k8s.io/apimachinery/pkg/util/net"
	"k8s.io/client-go/kubernetes"

	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler/v1alpha1"
	"github.com/configbutler/gitops-reverser/pkg/sops"
)

// Annotations on a generated age key Secret.
const (
	AnnotationRecipient     = "configbutler.ai/age-recipient"
	AnnotationBackupWarning = "configbutler.ai/backup-warning"
	GeneratedKeyName        = "identity" + sops.AgeKeySuffix
	backupWarning           = "This Secret holds the only copy of the age identity that decrypts the *.sops.yaml files written to Git. Back it up: without it they cannot be decrypted."
)

// encryptionKeys is a validated encryption configuration: recipients encrypt, the
// identities decrypt what is already in Git (to tell whether a Secret changed).
// Identities are private keys: they never leave memory, never reach status,
// events or logs.
type encryptionKeys struct {
	Recipients []string
	Identities []age.Identity
	Hash       string
}

type encryptionOutcome struct {
	gate gateResult
	keys *encryptionKeys
	// unreachable is set when the source cluster did not answer: the gate is unknown.
	unreachable error
}

// evaluateEncryption is the EncryptionConfigured gate. The key Secret lives in
// the target's namespace of the source cluster; keys ending ".agekey" hold age
// identities (Flux's convention). With generateWhenMissing a missing Secret is
// created with a new identity; an existing Secret is never changed.
func evaluateEncryption(ctx context.Context, kube kubernetes.Interface, t *v1alpha1.GitTarget) encryptionOutcome {
	enc := t.Spec.Encryption
	if enc == nil {
		return encryptionOutcome{gate: trueGate(v1alpha1.ReasonNotRequired, msgEncryptionNotNeeded)}
	}
	ref := t.Namespace + "/" + enc.SecretRef.Name
	if kube == nil {
		return encryptionOutcome{gate: falseGate(v1alpha1.ReasonMissingSecret,
			fmt.Sprintf("Cannot read encryption secret %s: the server has no source cluster (--kubeconfig)", ref))}
	}
	secret, err := kube.CoreV1().Secrets(t.Namespace).Get(ctx, enc.SecretRef.Name, metav1.GetOptions{})
	if unreachable(err) {
		return encryptionOutcome{unreachable: err}
	}
	switch {
	case apierrors.IsNotFound(err) && !enc.GenerateWhenMissing:
		return encryptionOutcome{gate: falseGate(v1alpha1.ReasonSecretCreateDisabled,
			fmt.Sprintf("Encryption secret %s is missing and generateWhenMissing is false", ref))}
	case apierrors.IsNotFound(err):
		secret, err = createAgeKeySecret(ctx, kube, t.Namespace, enc.SecretRef.Name, t)
		if unreachable(err) {
			return encryptionOutcome{unreachable: err}
		}
		if err != nil {
			return encryptionOutcome{gate: falseGate(v1alpha1.ReasonMissingSecret,
				fmt.Sprintf("Encryption secret %s is missing and could not be created: %v", ref, err))}
		}
	case err != nil:
		return encryptionOutcome{gate: falseGate(v1alpha1.ReasonMissingSecret,
			fmt.Sprintf("Cannot read encryption secret %s: %v", ref, err))}
	}
	ids, recipients, err := sops.ParseIdentities(secret.Data)
	if errors.Is(err, sops.ErrNoAgeKey) {
		return encryptionOutcome{gate: falseGate(v1alpha1.ReasonMissingSecret,
			fmt.Sprintf("Encryption secret %s has no age identity: no key ending in %q", ref, sops.AgeKeySuffix))}
	}
	if err != nil {
		// ParseIdentities names the key and line, never the key material.
		return encryptionOutcome{gate: falseGate(v1alpha1.ReasonInvalidConfig,
			fmt.Sprintf("Encryption secret %s is invalid: %v", ref, err))}
	}
	return encryptionOutcome{
		gate: trueGate(v1alpha1.ReasonOK, msgEncryptionOK),
		keys: &encryptionKeys{Recipients: recipients, Identities: ids, Hash: sops.RecipientsHash(recipients)},
	}
}

// unreachable reports whether err means the source cluster did not answer (as
// opposed to answering no).
func unreachable(err error) bool {
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

// createAgeKeySecret creates the key Secret with a new X25519 identity. A
// concurrent creation wins: AlreadyExists reads the Secret that is there.
func createAgeKeySecret(ctx context.Context, kube kubernetes.Interface, ns, name string, t *v1alpha1.GitTarget) (*corev1.Secret, error) {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		return nil, err
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
	created, err := kube.CoreV1().Secrets(ns).Create(ctx, secret, metav1.CreateOptions{FieldManager: "gitops-reverser"})
	if apierrors.IsAlreadyExists(err) {
		return kube.CoreV1().Secrets(ns).Get(ctx, name, metav1.GetOptions{})
	}
	return created, err
}
