package gates

import (
	"testing"
	"time"

	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler/v1alpha1"
)

// plainSnapFP is the snapshot fingerprint of plain() with ready() inputs.
func plainSnapFP() string { return bootFP + "|" + cmSel.Fingerprint() + "|" + CleanerOf(nil).Hash() }

// TestRunningSnapshotBlockWaits: a running snapshot's detail block is left out
// of status for its first RunningQuiet, and the evaluation asks to look again
// when it is due, so a short snapshot costs one status write, not two, and a
// long one still shows its start and progress.
func TestRunningSnapshotBlockWaits(t *testing.T) {
	running := func(ran time.Duration) State {
		return State{Worker: branch, Bootstrap: done(bootFP),
			Snapshot: Op{Phase: PhaseRunning, Fingerprint: plainSnapFP(), Started: now.Add(-ran), Stats: v1alpha1.SnapshotStats{Created: 7}}}
	}
	cases := []struct {
		name        string
		state       State
		block       bool          // the snapshot block is written
		requeueUpTo time.Duration // the evaluation asks to look again within this (0: no requeue asked for it)
	}{
		{name: "just started", state: running(0), block: false, requeueUpTo: RunningQuiet},
		{name: "running a second", state: running(time.Second), block: false, requeueUpTo: RunningQuiet - time.Second},
		{name: "running exactly the quiet time", state: running(RunningQuiet), block: true},
		{name: "running a minute", state: running(time.Minute), block: true},
		{name: "done at once", state: func() State {
			s := running(0)
			s.Snapshot.Phase, s.Snapshot.Finished, s.Snapshot.Reason = PhaseDone, now, v1alpha1.ReasonCompleted
			return s
		}(), block: true},
		{name: "queued, not started", state: State{Worker: branch, Bootstrap: done(bootFP),
			Snapshot: Op{Phase: PhaseQueued, Fingerprint: plainSnapFP()}}, block: false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v := ready(view(plain()))
			v.State = c.state
			d := Evaluate(v)
			if d.Need != NeedNothing {
				t.Fatalf("asked for input %d", d.Need)
			}
			if c.requeueUpTo > 0 && (d.Requeue <= 0 || d.Requeue > c.requeueUpTo) {
				t.Errorf("requeue %v, want within %v", d.Requeue, c.requeueUpTo)
			}
			var st v1alpha1.GitTargetStatus
			if _, _, err := WriteStatus(&st, &d, c.state, "apps", 1, now); err != nil {
				t.Fatal(err)
			}
			if got := st.Snapshot != nil; got != c.block {
				t.Errorf("snapshot block written: %v, want %v (%+v)", got, c.block, st.Snapshot)
			}
			if c.block && c.state.Snapshot.Phase == PhaseRunning && (st.Snapshot.StartTime == nil || st.Snapshot.Stats.Created != 7) {
				t.Errorf("the running block lacks its start or progress: %+v", st.Snapshot)
			}
		})
	}
}

// TestRunningSnapshotAloneWritesNothing: once the gates are written, the
// report that a snapshot started changes nothing for RunningQuiet.
func TestRunningSnapshotAloneWritesNothing(t *testing.T) {
	queued := State{Worker: branch, Bootstrap: done(bootFP), Snapshot: Op{Phase: PhaseQueued, Fingerprint: plainSnapFP()}}
	v := ready(view(plain()))
	v.State = queued
	d := Evaluate(v)
	var st v1alpha1.GitTargetStatus
	if changed, _, err := WriteStatus(&st, &d, queued, "apps", 1, now); err != nil || !changed {
		t.Fatalf("the first write: changed %v, %v", changed, err)
	}
	started := queued
	started.Snapshot.Phase, started.Snapshot.Started = PhaseRunning, now
	v.State = started
	d = Evaluate(v)
	if changed, _, _ := WriteStatus(&st, &d, started, "apps", 1, now.Add(time.Second)); changed {
		t.Errorf("the start of a snapshot was written within %v: %+v", RunningQuiet, st.Snapshot)
	}
	if changed, _, _ := WriteStatus(&st, &d, started, "apps", 1, now.Add(RunningQuiet)); !changed || st.Snapshot == nil {
		t.Errorf("the start of a snapshot running %v was not written", RunningQuiet)
	}
}
