package stream

import (
	"encoding/base64"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The maps below are what decoding the object's JSON gives (utiljson:
// strings, int64, bool, nil, []interface{}, map[string]interface{}), field
// by field after the types' json tags: omitempty fields are left out when
// empty, []byte is base64, a time is RFC 3339 in UTC. TestProtoMapsAreJSON
// holds them to that for randomly filled objects, so a field a new
// client-go adds fails it until it is mapped here.

// objectMetaMap is ObjectMeta as JSON decodes it, except that of
// managedFields it keeps what render.StripForCache keeps (each write's
// manager, operation and time): every page is stripped at once.
func objectMetaMap(m *metav1.ObjectMeta) map[string]interface{} {
	out := map[string]interface{}{"creationTimestamp": timeValue(m.CreationTimestamp)}
	setString(out, "name", m.Name)
	setString(out, "generateName", m.GenerateName)
	setString(out, "namespace", m.Namespace)
	setString(out, "selfLink", m.SelfLink)
	setString(out, "uid", string(m.UID))
	setString(out, "resourceVersion", m.ResourceVersion)
	if m.Generation != 0 {
		out["generation"] = m.Generation
	}
	if m.DeletionTimestamp != nil {
		out["deletionTimestamp"] = timeValue(*m.DeletionTimestamp)
	}
	if m.DeletionGracePeriodSeconds != nil {
		out["deletionGracePeriodSeconds"] = *m.DeletionGracePeriodSeconds
	}
	setStrings(out, "labels", m.Labels)
	setStrings(out, "annotations", m.Annotations)
	if len(m.OwnerReferences) > 0 {
		refs := make([]interface{}, len(m.OwnerReferences))
		for i, r := range m.OwnerReferences {
			ref := map[string]interface{}{"apiVersion": r.APIVersion, "kind": r.Kind, "name": r.Name, "uid": string(r.UID)}
			if r.Controller != nil {
				ref["controller"] = *r.Controller
			}
			if r.BlockOwnerDeletion != nil {
				ref["blockOwnerDeletion"] = *r.BlockOwnerDeletion
			}
			refs[i] = ref
		}
		out["ownerReferences"] = refs
	}
	if len(m.Finalizers) > 0 {
		fs := make([]interface{}, len(m.Finalizers))
		for i, f := range m.Finalizers {
			fs[i] = f
		}
		out["finalizers"] = fs
	}
	if len(m.ManagedFields) > 0 {
		entries := make([]interface{}, len(m.ManagedFields))
		for i, e := range m.ManagedFields {
			entry := map[string]interface{}{}
			setString(entry, "manager", e.Manager)
			setString(entry, "operation", string(e.Operation))
			if e.Time != nil {
				entry["time"] = timeValue(*e.Time)
			}
			entries[i] = entry
		}
		out["managedFields"] = entries
	}
	return out
}

// configMapMap is a ConfigMap as JSON decodes it (apiVersion and kind are
// the list's).
func configMapMap(cm *corev1.ConfigMap) map[string]interface{} {
	out := map[string]interface{}{"metadata": objectMetaMap(&cm.ObjectMeta)}
	if cm.Immutable != nil {
		out["immutable"] = *cm.Immutable
	}
	setStrings(out, "data", cm.Data)
	setBytes(out, "binaryData", cm.BinaryData)
	return out
}

// secretMap is a Secret as JSON decodes it.
func secretMap(s *corev1.Secret) map[string]interface{} {
	out := map[string]interface{}{"metadata": objectMetaMap(&s.ObjectMeta)}
	if s.Immutable != nil {
		out["immutable"] = *s.Immutable
	}
	setBytes(out, "data", s.Data)
	setStrings(out, "stringData", s.StringData)
	setString(out, "type", string(s.Type))
	return out
}

// timeValue is a metav1.Time as JSON gives it: RFC 3339 in UTC, or null.
func timeValue(t metav1.Time) interface{} {
	if t.IsZero() {
		return nil
	}
	return t.UTC().Format(time.RFC3339)
}

func setString(out map[string]interface{}, key, v string) {
	if v != "" {
		out[key] = v
	}
}

func setStrings(out map[string]interface{}, key string, m map[string]string) {
	if len(m) == 0 {
		return
	}
	o := make(map[string]interface{}, len(m))
	for k, v := range m {
		o[k] = v
	}
	out[key] = o
}

func setBytes(out map[string]interface{}, key string, m map[string][]byte) {
	if len(m) == 0 {
		return
	}
	o := make(map[string]interface{}, len(m))
	for k, v := range m {
		if v == nil {
			o[k] = nil // JSON's null, as kube-apiserver encodes a nil value
			continue
		}
		o[k] = base64.StdEncoding.EncodeToString(v)
	}
	out[key] = o
}
