package v1alpha1

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// Defaults applied on every create and update (and on read of stored objects).
const (
	DefaultPushInterval   = 5 * time.Second
	DefaultPushMaxChanges = 500
)

func addDefaultingFuncs(scheme *runtime.Scheme) error {
	return RegisterDefaults(scheme)
}

// SetDefaults_PushPolicy defaults the commit batching window and size.
func SetDefaults_PushPolicy(obj *PushPolicy) {
	if obj.Interval.Duration == 0 {
		obj.Interval = metav1.Duration{Duration: DefaultPushInterval}
	}
	if obj.MaxChanges == 0 {
		obj.MaxChanges = DefaultPushMaxChanges
	}
}

// SetDefaults_GitProviderReference defaults the referent's group and kind.
func SetDefaults_GitProviderReference(obj *GitProviderReference) {
	if obj.Group == "" {
		obj.Group = GroupName
	}
	if obj.Kind == "" {
		obj.Kind = "GitProvider"
	}
}

// SetDefaults_LocalTargetReference defaults a rule's target group and kind
// (as gitops-reverser v0.16-v0.17's CRDs did).
func SetDefaults_LocalTargetReference(obj *LocalTargetReference) {
	obj.Group, obj.Kind = orDefault(obj.Group, GroupName), orDefault(obj.Kind, "GitTarget")
}

// SetDefaults_NamespacedTargetReference defaults a cluster rule's target
// group and kind.
func SetDefaults_NamespacedTargetReference(obj *NamespacedTargetReference) {
	obj.Group, obj.Kind = orDefault(obj.Group, GroupName), orDefault(obj.Kind, "GitTarget")
}

// SetDefaults_LocalSecretReference defaults a named Secret reference's kind
// (an empty one, of encryption turned off, stays empty).
func SetDefaults_LocalSecretReference(obj *LocalSecretReference) {
	if obj.Name != "" {
		obj.Kind = orDefault(obj.Kind, "Secret")
	}
}

// SetDefaults_EncryptionSpec defaults the provider to sops, the only one.
func SetDefaults_EncryptionSpec(obj *EncryptionSpec) {
	obj.Provider = orDefault(obj.Provider, EncryptionProviderSOPS)
}

func orDefault(v, d string) string {
	if v == "" {
		return d
	}
	return v
}
