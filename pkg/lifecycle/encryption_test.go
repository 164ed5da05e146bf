package lifecycle

import (
	"context"
	"strings"
	"testing"

	"filippo.io/age"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler/v1alpha1"
)

func encTarget(generate bool) *v1alpha1.GitTarget {
	t := target("sut", "t", "p", "main", "", 0)
	t.Spec.Encryption = &v1alpha1.EncryptionSpec{Provider: "sops", SecretRef: v1alpha1.LocalObjectReference{Name: "sops-age-key"}, GenerateWhenMissing: generate}
	return t
}

func secret(data map[string]string) *corev1.Secret {
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "sut", Name: "sops-age-key"}, Data: map[string][]byte{}}
	for k, v := range data {
		s.Data[k] = []byte(v)
	}
	return s
}

// TestEvaluateEncryption covers every reason of the gate (the fake clientset is
// an in-memory stand-in for the source cluster; e2e covers the real one).
func TestEvaluateEncryption(t *testing.T) {
	id, _ := age.GenerateX25519Identity()
	ctx := context.Background()

	if got := evaluateEncryption(ctx, fake.NewClientset(), target("sut", "t", "p", "main", "", 0)); got.gate.Reason != "NotRequired" ||
		got.gate.Message != "Encryption is not configured for this GitTarget" || got.keys != nil {
		t.Errorf("no encryption: %+v", got)
	}
	if got := evaluateEncryption(ctx, fake.NewClientset(), encTarget(false)); got.gate.Reason != "SecretCreateDisabled" ||
		got.gate.Message != "Encryption secret sut/sops-age-key is missing and generateWhenMissing is false" {
		t.Errorf("missing, no generate: %+v", got.gate)
	}
	for name, tc := range map[string]struct {
		data   map[string]string
		reason string
	}{
		"no .agekey key":  {map[string]string{"key.txt": id.String()}, "MissingSecret"},
		"garbage":         {map[string]string{"identity.agekey": "AGE-SECRET-KEY-1NOPE"}, "InvalidConfig"},
		"valid":           {map[string]string{"identity.agekey": id.String()}, "OK"},
		"valid + comment": {map[string]string{"a.agekey": "# created: now\n" + id.String() + "\n"}, "OK"},
	} {
		t.Run(name, func(t *testing.T) {
			got := evaluateEncryption(ctx, fake.NewClientset(secret(tc.data)), encTarget(true))
			if got.gate.Reason != tc.reason {
				t.Fatalf("reason %s (%s), want %s", got.gate.Reason, got.gate.Message, tc.reason)
			}
			if strings.Contains(got.gate.Message, "NOPE") || strings.Contains(got.gate.Message, id.String()) {
				t.Errorf("message leaks key material: %s", got.gate.Message)
			}
			if tc.reason == "OK" && (len(got.keys.Recipients) != 1 || got.keys.Recipients[0] != id.Recipient().String()) {
				t.Errorf("recipients %v", got.keys.Recipients)
			}
		})
	}

	kube := fake.NewClientset()
	got := evaluateEncryption(ctx, kube, encTarget(true))
	if got.gate.Reason != "OK" || got.keys == nil {
		t.Fatalf("generate: %+v", got.gate)
	}
	s, err := kube.CoreV1().Secrets("sut").Get(ctx, "sops-age-key", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if s.Annotations[AnnotationRecipient] != got.keys.Recipients[0] || s.Annotations[AnnotationBackupWarning] == "" {
		t.Errorf("annotations %v", s.Annotations)
	}
	// A second evaluation reads the same Secret: the key is stable.
	again := evaluateEncryption(ctx, kube, encTarget(true))
	if again.keys.Hash != got.keys.Hash {
		t.Error("a second evaluation changed the key")
	}
}
