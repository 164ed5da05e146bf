package v1alpha1

import (
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// GroupName is the API group of gitops-reverser.
const GroupName = "configbutler.ai"

// SchemeGroupVersion is the group version of this package.
var SchemeGroupVersion = schema.GroupVersion{Group: GroupName, Version: "v1alpha1"}

var (
	// SchemeBuilder registers the v1alpha1 types and their functions.
	SchemeBuilder      runtime.SchemeBuilder
	localSchemeBuilder = &SchemeBuilder
	// AddToScheme adds v1alpha1 to a scheme.
	AddToScheme = localSchemeBuilder.AddToScheme
)

func init() {
	// Generated functions (conversion, defaults) register themselves in their own
	// files, so this package compiles without them.
	localSchemeBuilder.Register(addKnownTypes, addDefaultingFuncs, addFieldLabelConversions)
}

// Resource takes an unqualified resource and returns a group-qualified GroupResource.
func Resource(resource string) schema.GroupResource {
	return SchemeGroupVersion.WithResource(resource).GroupResource()
}

func addKnownTypes(scheme *runtime.Scheme) error {
	scheme.AddKnownTypes(SchemeGroupVersion,
		&GitProvider{}, &GitProviderList{},
		&GitTarget{}, &GitTargetList{},
		&GitTargetGates{}, &GitTargetSnapshot{},
		&WatchRule{}, &WatchRuleList{},
		&ClusterWatchRule{}, &ClusterWatchRuleList{},
		&ObjectRevision{}, &ObjectRevisionList{},
		&GitRestore{}, &GitRestoreList{},
	)
	metav1.AddToGroupVersion(scheme, SchemeGroupVersion)
	return nil
}

// GitTargetSelectableFields are the field selectors gittargets support beyond
// metadata.name and metadata.namespace.
var GitTargetSelectableFields = []string{"spec.providerRef.name", "spec.branch"}

// addFieldLabelConversions lets clients use field selectors beyond name/namespace
// (without it the server rejects them as unknown labels).
func addFieldLabelConversions(scheme *runtime.Scheme) error {
	allowed := map[string]bool{"metadata.name": true, "metadata.namespace": true}
	for _, f := range GitTargetSelectableFields {
		allowed[f] = true
	}
	if err := scheme.AddFieldLabelConversionFunc(SchemeGroupVersion.WithKind("GitTarget"),
		func(label, value string) (string, string, error) {
			if allowed[label] {
				return label, value, nil
			}
			return "", "", fmt.Errorf("field label not supported: %s", label)
		}); err != nil {
		return err
	}
	revisionFields := map[string]bool{}
	for _, f := range ObjectRevisionSelectableFields {
		revisionFields[f] = true
	}
	return scheme.AddFieldLabelConversionFunc(SchemeGroupVersion.WithKind("ObjectRevision"),
		func(label, value string) (string, string, error) {
			if revisionFields[label] {
				return label, value, nil
			}
			return "", "", fmt.Errorf("field label not supported: %s", label)
		})
}

// ObjectRevisionSelectableFields are the field selectors objectrevisions
// support: the object's kind, name and group, and the target (the Events
// convention).
var ObjectRevisionSelectableFields = []string{"metadata.name", "metadata.namespace", "object.kind", "object.name", "object.apiGroup", "target.name", "target.namespace"}
