package worker

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/configbutler/gitops-reverser/pkg/lifecycle/mirror"
)

// TestCommitResults: what a flush tells each target of its batch: once per
// target, in the order of their first change; after a failed push, the
// error and how many of its changes wait; after one that worked, nothing
// when its commit was reported already, else that pushes work again.
func TestCommitResults(t *testing.T) {
	now := time.Now()
	failure := errors.New("push rejected")
	chunks := []authorChunk{
		{changes: []*mirror.Change{liveChange("b/t", "b", "1"), liveChange("a/t", "a", "1")}},
		{changes: []*mirror.Change{liveChange("a/t", "a", "2"), liveChange("c/t", "c", "1")}},
	}
	counts := map[string]int{"a/t": 2, "b/t": 1}
	for _, tc := range []struct {
		name      string
		err       error
		committed map[string]bool
		want      []mirror.Result
	}{
		{name: "a failed push", err: failure, committed: nil, want: []mirror.Result{
			{Target: "b/t", Op: mirror.OpCommit, Err: failure, Pending: 1, Time: now},
			{Target: "a/t", Op: mirror.OpCommit, Err: failure, Pending: 2, Time: now},
			{Target: "c/t", Op: mirror.OpCommit, Err: failure, Pending: 0, Time: now},
		}},
		{name: "every target committed", committed: map[string]bool{"a/t": true, "b/t": true, "c/t": true}},
		{name: "some targets' files unchanged", committed: map[string]bool{"a/t": true}, want: []mirror.Result{
			{Target: "b/t", Op: mirror.OpCommit, Pending: 1, Time: now},
			{Target: "c/t", Op: mirror.OpCommit, Time: now},
		}},
		{name: "nothing changed", want: []mirror.Result{
			{Target: "b/t", Op: mirror.OpCommit, Pending: 1, Time: now},
			{Target: "a/t", Op: mirror.OpCommit, Pending: 2, Time: now},
			{Target: "c/t", Op: mirror.OpCommit, Time: now},
		}},
	} {
		if got := commitResults(chunks, tc.err, counts, tc.committed, now); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s:\n got %+v\nwant %+v", tc.name, got, tc.want)
		}
	}
	if got := chunkPaths(chunks); !reflect.DeepEqual(got, []string{"b/1", "a/1", "a/2", "c/1"}) {
		t.Errorf("chunkPaths: %v", got)
	}
}

// TestVerbOf: how a commit message lists a change.
func TestVerbOf(t *testing.T) {
	del := liveChange("a/t", "a", "1")
	del.Object = nil
	for _, tc := range []struct {
		c       *mirror.Change
		existed bool
		want    string
	}{
		{liveChange("a/t", "a", "1"), false, "create"},
		{liveChange("a/t", "a", "1"), true, "update"},
		{del, true, "delete"},
		{del, false, "delete"},
	} {
		if got := verbOf(tc.c, tc.existed); got != tc.want {
			t.Errorf("verbOf(object %v, existed %v) = %q, want %q", tc.c.Object != nil, tc.existed, got, tc.want)
		}
	}
}
