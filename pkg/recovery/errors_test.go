package recovery

import (
	"errors"
	"fmt"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/configbutler/gitops-reverser/pkg/history"
)

// TestHistoryError: what a reader of the history is told for each failure.
func TestHistoryError(t *testing.T) {
	notFound := apierrors.NewNotFound(schema.GroupResource{Resource: "objectrevisions"}, "x")
	for _, c := range []struct {
		name       string
		err        error
		code       int32
		retryAfter int32
	}{
		{"none", nil, 0, 0},
		{"not found stays", notFound, 404, 0},
		{"a rewritten history expires tokens", history.ErrExpired, 410, 0},
		{"a branch still opening: retry after", fmt.Errorf("x: %w", history.ErrOpening), 503, retryOpening},
		{"anything else: unavailable", errors.New("fetch failed"), 503, 0},
	} {
		got := historyError(c.err)
		if c.err == nil {
			if got != nil {
				t.Errorf("%s: %v", c.name, got)
			}
			continue
		}
		var se *apierrors.StatusError
		if !errors.As(got, &se) || se.ErrStatus.Code != c.code {
			t.Errorf("%s: %v, want code %d", c.name, got, c.code)
			continue
		}
		var retry int32
		if d := se.ErrStatus.Details; d != nil {
			retry = d.RetryAfterSeconds
		}
		if retry != c.retryAfter {
			t.Errorf("%s: Retry-After %d, want %d", c.name, retry, c.retryAfter)
		}
	}
}
