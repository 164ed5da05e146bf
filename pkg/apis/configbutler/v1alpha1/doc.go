// +k8s:openapi-gen=true
// +k8s:deepcopy-gen=package
// +k8s:conversion-gen=github.com/configbutler/gitops-reverser/pkg/apis/configbutler
// +k8s:defaulter-gen=TypeMeta
// +groupName=configbutler.ai
// +k8s:openapi-model-package=ai.configbutler.v1alpha1

// Package v1alpha1 is the v1alpha1 version of the configbutler.ai API: GitProvider,
// GitTarget (with its read-only gates and snapshot views), WatchRule and
// ClusterWatchRule. It is the only served version.
package v1alpha1
