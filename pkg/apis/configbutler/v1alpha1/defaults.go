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
