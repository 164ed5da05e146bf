package objectrevision

import (
	"fmt"

	metainternalversion "k8s.io/apimachinery/pkg/apis/meta/internalversion"
)

// SelectableFields are the field selectors objectrevisions support, the
// Events convention: the object's kind, name and group, and the target.
var SelectableFields = []string{"object.kind", "object.name", "object.apiGroup", "target.name", "target.namespace", "metadata.name", "metadata.namespace"}

// queryOf turns a LIST's options into a Query. Only equality on the
// selectable fields is supported; a label selector selects nothing a
// revision has (revisions carry no labels), so one is refused.
func queryOf(o *metainternalversion.ListOptions) (Query, error) {
	q := Query{}
	if o == nil {
		return q, nil
	}
	q.Limit, q.Continue = o.Limit, o.Continue
	if o.LabelSelector != nil && !o.LabelSelector.Empty() {
		return q, fmt.Errorf("objectrevisions carry no labels: use a field selector (%v)", SelectableFields)
	}
	if o.FieldSelector == nil || o.FieldSelector.Empty() {
		return q, nil
	}
	for _, r := range o.FieldSelector.Requirements() {
		if r.Operator != "=" && r.Operator != "==" {
			return q, fmt.Errorf("field selector %s: only = is supported", r.Field)
		}
		switch r.Field {
		case "object.kind":
			q.Kind = r.Value
		case "object.name":
			q.Name = r.Value
		case "object.apiGroup":
			q.APIGroup = r.Value
		case "target.name":
			q.TargetName = r.Value
		case "target.namespace":
			q.TargetNamespace = r.Value
		case "metadata.namespace":
			// The request's namespace already scopes the list.
		case "metadata.name":
			return q, fmt.Errorf("select a revision by name with get, not a field selector")
		default:
			return q, fmt.Errorf("field label not supported: %s (supported: %v)", r.Field, SelectableFields)
		}
	}
	return q, nil
}
