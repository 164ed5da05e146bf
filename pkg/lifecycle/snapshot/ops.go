package snapshot

import (
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/configbutler/gitops-reverser/pkg/selection"
)

// A snapshot keeps to the rules' operations as the stream does: a file is
// created only for rules that mirror CREATE, changed only for UPDATE, and
// removed only for DELETE (rules without it keep an archive).

// opAllowed reports whether writing obj's file is mirrored: an update when
// the file exists (had), a create when it does not.
func opAllowed(ts *selection.TypeSelection, obj *unstructured.Unstructured, had bool) bool {
	if had {
		return ts.Allows(obj, selection.OpUpdate)
	}
	return ts.Allows(obj, selection.OpCreate)
}

// deleteAllowed reports whether the object a file holds (its last mirrored
// state: its labels decide which rules took it) may be deleted. Only read
// when some rule of the type leaves deletions out.
func deleteAllowed(ts *selection.TypeSelection, file []byte) bool {
	if !ts.Narrowed(selection.OpDelete) {
		return true
	}
	var m map[string]any
	if err := yaml.Unmarshal(file, &m); err != nil {
		return false // unreadable: kept, as a foreign file is
	}
	return ts.Allows(&unstructured.Unstructured{Object: m}, selection.OpDelete)
}
