// +k8s:deepcopy-gen=package
// +groupName=configbutler.ai

// Package configbutler is the internal version of the configbutler.ai API: the
// hub every served version converts to, and what registry strategies and
// validation work on.
package configbutler
