package selection

import (
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler/v1alpha1"
)

// Ops is a set of the operations a rule mirrors (rules[].operations): a
// bitmask, the zero value standing for all (a clause made by hand, in
// tests, mirrors everything).
type Ops uint8

// The operations.
const (
	OpCreate Ops = 1 << iota
	OpUpdate
	OpDelete
	OpsAll = OpCreate | OpUpdate | OpDelete
)

// OpsOf is the set a rule lists: empty or "*" is all.
func OpsOf(ops []v1alpha1.OperationType) Ops {
	var o Ops
	for _, op := range ops {
		switch op {
		case v1alpha1.OperationCreate:
			o |= OpCreate
		case v1alpha1.OperationUpdate:
			o |= OpUpdate
		case v1alpha1.OperationDelete:
			o |= OpDelete
		case v1alpha1.OperationAll:
			o |= OpsAll
		}
	}
	if o == 0 {
		return OpsAll
	}
	return o
}

// Has reports whether the set holds op.
func (o Ops) Has(op Ops) bool { return o == 0 || o&op != 0 }

// Allows reports whether op on an object (of the type) is mirrored: a clause
// that takes the object mirrors op. An object taken by several rules is
// mirrored for the union of their operations.
func (s *TypeSelection) Allows(u *unstructured.Unstructured, op Ops) bool {
	if !s.Matches(u.GetNamespace()) {
		return false
	}
	if len(s.Clauses) == 0 {
		return true
	}
	for _, c := range s.Clauses {
		if c.Ops.Has(op) && c.takes(s.Resource.GVR, u) {
			return true
		}
	}
	return false
}

// MayDelete reports whether the file of a gone object, read back (u: its
// last mirrored state), may be removed: a rule that mirrors deletes takes it,
// as Allows decides for a live delete. A file lacks the owner references the
// renderer drops, so a rule that leaves owned objects out cannot tell from it
// whether it took the object: it counts only when no rule that leaves
// deletes out and keeps owned objects takes the file (which may be the
// archive of an owned object: a rule naming jobs under a wildcard).
func (s *TypeSelection) MayDelete(u *unstructured.Unstructured) bool {
	if !s.Matches(u.GetNamespace()) {
		return false
	}
	if len(s.Clauses) == 0 {
		return true
	}
	archivedOwned := false
	for _, c := range s.Clauses {
		if !c.Ops.Has(OpDelete) && c.KeepOwned && c.takes(s.Resource.GVR, u) {
			archivedOwned = true
		}
	}
	for _, c := range s.Clauses {
		if c.Ops.Has(OpDelete) && (c.KeepOwned || !archivedOwned) && c.takes(s.Resource.GVR, u) {
			return true
		}
	}
	return false
}

// Narrowed reports whether some clause of the type leaves op out.
func (s *TypeSelection) Narrowed(op Ops) bool {
	for _, c := range s.Clauses {
		if !c.Ops.Has(op) {
			return true
		}
	}
	return false
}
