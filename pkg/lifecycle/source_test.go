package lifecycle

import (
	"context"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler/v1alpha1"
	"github.com/configbutler/gitops-reverser/pkg/sops"
)

// TestCreateKeySecret: generateWhenMissing creates an age identity with its
// recipient and a backup warning; a second creation (a race) reads the Secret
// that is there instead of replacing it. (The fake clientset stands in for the
// source cluster; e2e covers the real one.)
func TestCreateKeySecret(t *testing.T) {
	ctx := context.Background()
	kube := fake.NewClientset()
	s := newSource(kube, nil, nil)
	tgt := &v1alpha1.GitTarget{ObjectMeta: metav1.ObjectMeta{Namespace: "sut", Name: "t"}, Spec: v1alpha1.GitTargetSpec{
		Encryption: &v1alpha1.EncryptionSpec{Provider: "sops", SecretRef: v1alpha1.LocalSecretReference{Name: "sops-age-key"}, GenerateWhenMissing: true}}}
	if ks := s.keySecret(ctx, "sut", "sops-age-key"); ks.Found || ks.Err != nil {
		t.Fatalf("before: %+v", ks)
	}
	created := s.createKeySecret(ctx, tgt)
	if !created.Found || !created.Created || created.CreateErr != nil {
		t.Fatalf("create: %+v", created)
	}
	_, recipients, err := sops.ParseIdentities(created.Data)
	if err != nil || len(recipients) != 1 {
		t.Fatalf("generated identity: %v %v", recipients, err)
	}
	sec, err := kube.CoreV1().Secrets("sut").Get(ctx, "sops-age-key", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if sec.Annotations[AnnotationRecipient] != recipients[0] || sec.Annotations[AnnotationBackupWarning] == "" {
		t.Errorf("annotations %v", sec.Annotations)
	}
	again := s.createKeySecret(ctx, tgt)
	if _, r2, _ := sops.ParseIdentities(again.Data); again.Created || len(r2) != 1 || r2[0] != recipients[0] {
		t.Errorf("a second creation changed the key or claims to have created it: %+v", again)
	}
}
