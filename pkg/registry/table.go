package registry

import (
	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler"

	"context"
	"fmt"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/duration"
)

// TableConvertor prints objects of type T for `kubectl get`. Rows returns the
// cells of each row an object contributes (usually one; the gates view prints
// one row per gate).
type TableConvertor[T runtime.Object] struct {
	Columns []metav1.TableColumnDefinition
	Rows    func(obj T) [][]interface{}
}

// ConvertToTable implements rest.TableConvertor for a single object or a list.
func (c TableConvertor[T]) ConvertToTable(_ context.Context, object runtime.Object, tableOptions runtime.Object) (*metav1.Table, error) {
	table := &metav1.Table{}
	if opt, ok := tableOptions.(*metav1.TableOptions); !ok || !opt.NoHeaders {
		table.ColumnDefinitions = c.Columns
	}
	add := func(obj runtime.Object) error {
		t, ok := obj.(T)
		if !ok {
			return fmt.Errorf("cannot print %T in a table of %T", obj, *new(T))
		}
		for _, cells := range c.Rows(t) {
			table.Rows = append(table.Rows, metav1.TableRow{Cells: cells, Object: runtime.RawExtension{Object: obj}})
		}
		return nil
	}
	if meta.IsListType(object) {
		if err := meta.EachListItem(object, add); err != nil {
			return nil, err
		}
		if l, err := meta.ListAccessor(object); err == nil {
			table.ResourceVersion = l.GetResourceVersion()
			table.Continue = l.GetContinue()
			table.RemainingItemCount = l.GetRemainingItemCount()
		}
		return table, nil
	}
	if err := add(object); err != nil {
		return nil, err
	}
	if m, err := meta.Accessor(object); err == nil {
		table.ResourceVersion = m.GetResourceVersion()
	}
	return table, nil
}

// Age renders a timestamp as kubectl does ("5m", "<unknown>").
func Age(t metav1.Time) string {
	if t.IsZero() {
		return "<unknown>"
	}
	return duration.HumanDuration(time.Since(t.Time))
}

// Column definitions shared by the kinds' tables.
var (
	NameColumn = metav1.TableColumnDefinition{Name: "Name", Type: "string", Format: "name", Description: metav1.ObjectMeta{}.SwaggerDoc()["name"]}
	AgeColumn  = metav1.TableColumnDefinition{Name: "Age", Type: "string", Description: metav1.ObjectMeta{}.SwaggerDoc()["creationTimestamp"]}
	// AuthorizedByColumn (-o wide) is the user the server authorized the
	// object for (status.authorizedBy).
	AuthorizedByColumn = metav1.TableColumnDefinition{Name: "Authorized By", Type: "string", Priority: 1,
		Description: "User who created the object or last changed its spec; the server mirrors only what this user may read."}
)

// AuthorizedBy is the cell of AuthorizedByColumn.
func AuthorizedBy(id *configbutler.AuthorizedIdentity) string {
	if id == nil || id.Username == "" {
		return "<none>"
	}
	return id.Username
}

// ReadyCells returns the Ready condition's status and reason for a table, or
// "Unknown" while the condition has not been written.
func ReadyCells(conds []metav1.Condition) (status, reason string) {
	for _, c := range conds {
		if c.Type == "Ready" {
			return string(c.Status), c.Reason
		}
	}
	return string(metav1.ConditionUnknown), ""
}

// ReadyMessage returns the Ready condition's message, or "".
func ReadyMessage(conds []metav1.Condition) string {
	for _, c := range conds {
		if c.Type == "Ready" {
			return c.Message
		}
	}
	return ""
}

// JoinResources prints rule resource lists compactly: "configmaps,secrets;deployments".
func JoinResources(rules [][]string) string {
	parts := make([]string, 0, len(rules))
	for _, r := range rules {
		parts = append(parts, strings.Join(r, ","))
	}
	if len(parts) == 0 {
		return "<none>"
	}
	return strings.Join(parts, ";")
}
