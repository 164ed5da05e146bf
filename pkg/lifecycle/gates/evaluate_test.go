package gates

import (
	"errors"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/go-git/go-git/v5/plumbing/transport"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/sets"

	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler/v1alpha1"
	"github.com/configbutler/gitops-reverser/pkg/gitmodel"
	"github.com/configbutler/gitops-reverser/pkg/lifecycle/mirror"
	"github.com/configbutler/gitops-reverser/pkg/selection"
)

var (
	now    = base.Add(time.Hour)
	branch = mirror.BranchKey{Repo: "github.com/org/repo", Branch: "main", Provider: "sut/p"}
	cmSel  = selection.Selection{schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}: {
		Resource: selection.APIResource{GVR: schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}, Namespaced: true}, Namespaces: sets.New("sut")}}
)

func view(t *v1alpha1.GitTarget) *View {
	return &View{
		Target: t, Targets: []*v1alpha1.GitTarget{t}, Now: now, Prefers: true,
		Providers: lookup(provider("sut", "p", "https://github.com/org/repo.git", "main")),
		Source:    Source{Kube: true, Stream: true, Connected: true},
	}
}

// ready fills every input a valid target without encryption needs.
func ready(v *View) *View {
	v.Ownership = &Ownership{Owned: true, Preferred: true}
	v.Credentials = &Credentials{Config: mirror.WorkerConfig{URL: "https://github.com/org/repo.git", AuthID: "creds/1"}}
	v.Worker = &Worker{UID: "w-1"}
	v.Selection = &Selected{Selection: cmSel}
	return v
}

func gate(d Decision, g string) string {
	o, ok := d.Gates[g]
	if !ok {
		return "-"
	}
	return string(o.Status) + "/" + o.Reason
}

func effects(d Decision) string {
	var out []string
	for _, e := range d.Effects {
		switch e := e.(type) {
		case Release:
			out = append(out, "Release")
		case ReportUnreachable:
			out = append(out, "ReportUnreachable")
		case ResetState:
			out = append(out, "ResetState")
		case StartBootstrap:
			out = append(out, "StartBootstrap")
		case Restrict:
			out = append(out, "Restrict:"+e.Selection.Fingerprint())
		case StartSnapshot:
			out = append(out, "StartSnapshot:"+e.Target.Selection.Fingerprint())
		}
	}
	return strings.Join(out, ",")
}

func plain() *v1alpha1.GitTarget { return target("sut", "t", "p", "main", "apps", 5) }

func withState(v *View, s State) *View { v.State = s; return v }

// bootFP is the bootstrap fingerprint of plain() with ready() inputs.
const bootFP = "github.com/org/repo#main via sut/p|apps||creds/1"

func done(fp string) Op {
	return Op{Phase: PhaseDone, Fingerprint: fp, Reason: v1alpha1.ReasonBootstrapApplied, Finished: now}
}

// TestEvaluate: each gate's decisions, the inputs asked for in order, and the
// effects, without etcd, Git or a cluster.
func TestEvaluate(t *testing.T) {
	id, _ := age.GenerateX25519Identity()
	encrypted := func(generate bool) *v1alpha1.GitTarget {
		tg := plain()
		tg.Spec.Encryption = &v1alpha1.EncryptionSpec{Provider: "sops", SecretRef: v1alpha1.LocalSecretReference{Name: "key"}, GenerateWhenMissing: generate}
		return tg
	}
	snapFP := plainSnapFP()
	live := State{Worker: branch, Bootstrap: done(bootFP), Snapshot: Op{Phase: PhaseDone, Fingerprint: snapFP, Finished: now}, Streaming: true}
	refused := &netError{errors.New("dial tcp: connection refused")}
	cases := []struct {
		name string
		view *View
		// want: Need, or the gates (Validated..EventStreamLive), effects, requeue, skipWrite
		need    Need
		gates   string
		effects string
		requeue time.Duration
		skip    bool
	}{
		{name: "provider missing", view: func() *View { v := view(target("sut", "t", "nope", "main", "apps", 5)); return v }(),
			gates: "False/ProviderNotFound Unknown/Blocked Unknown/Blocked Unknown/NotStarted Unknown/NotStarted", effects: "Release"},
		{name: "invalid, another replica says so", view: func() *View { v := view(target("sut", "t", "nope", "main", "apps", 5)); v.Prefers = false; return v }(),
			gates: "False/ProviderNotFound Unknown/Blocked Unknown/Blocked Unknown/NotStarted Unknown/NotStarted", effects: "Release", skip: true},
		{name: "valid: the lease first", view: view(plain()), need: NeedOwnership},
		{name: "another replica owns the branch", view: func() *View { v := view(plain()); v.Ownership = &Ownership{Preferred: true}; return v }(),
			gates: "True/OK - - - -", effects: "Release", skip: true},
		{name: "owned elsewhere, not preferred: look again", view: func() *View { v := view(plain()); v.Ownership = &Ownership{}; return v }(),
			gates: "True/OK - - - -", effects: "Release", skip: true, requeue: 6 * time.Second},
		{name: "lease error", view: func() *View { v := view(plain()); v.Ownership = &Ownership{Err: errors.New("etcd")}; return v }(),
			gates: "True/OK - - - -", effects: "Release", skip: true, requeue: 2 * time.Second},
		{name: "no encryption: credentials next", view: func() *View { v := view(plain()); v.Ownership = &Ownership{Owned: true}; return v }(), need: NeedCredentials},
		{name: "encryption: the key Secret next", view: func() *View { v := view(encrypted(false)); v.Ownership = &Ownership{Owned: true}; return v }(), need: NeedKeySecret},
		{name: "key Secret missing, generate", view: func() *View {
			v := view(encrypted(true))
			v.Ownership, v.KeySecret = &Ownership{Owned: true}, &KeySecret{}
			return v
		}(), need: NeedCreateKeySecret},
		{name: "key Secret missing, no generate", view: func() *View {
			v := view(encrypted(false))
			v.Ownership, v.KeySecret = &Ownership{Owned: true}, &KeySecret{}
			return v
		}(), gates: "True/OK False/SecretCreateDisabled Unknown/Blocked - -", effects: "Release"},
		{name: "no source cluster", view: func() *View {
			v := view(encrypted(false))
			v.Ownership, v.Source.Kube = &Ownership{Owned: true}, false
			return v
		}(), gates: "True/OK False/MissingSecret Unknown/Blocked - -", effects: "Release"},
		{name: "key Secret unreachable: nothing learned", view: func() *View {
			v := view(encrypted(false))
			v.Ownership, v.KeySecret = &Ownership{Owned: true}, &KeySecret{Err: refused}
			return v
		}(), gates: "True/OK - - - -", effects: "ReportUnreachable", skip: true, requeue: 5 * time.Second},
		{name: "key Secret unreachable while live: Disconnected", view: func() *View {
			v := withState(view(encrypted(false)), live)
			v.Ownership, v.KeySecret = &Ownership{Owned: true}, &KeySecret{Err: refused}
			return v
		}(), gates: "True/OK - - - False/Disconnected", effects: "ReportUnreachable"},
		{name: "key Secret valid: bootstrap with its recipients", view: func() *View {
			v := ready(view(encrypted(false)))
			v.KeySecret = &KeySecret{Found: true, Data: map[string][]byte{"k.agekey": []byte(id.String())}}
			return v
		}(), gates: "True/OK True/OK Unknown/NotStarted - -", effects: "ResetState,StartBootstrap"},
		{name: "credentials unusable", view: func() *View {
			v := ready(view(plain()))
			v.Credentials = &Credentials{Err: errors.New("no password")}
			return v
		}(), gates: "True/OK True/NotRequired False/WorkerNotFound - -", effects: "Release", requeue: 30 * time.Second},
		{name: "the worker next", view: func() *View { v := ready(view(plain())); v.Worker = nil; return v }(), need: NeedWorker},
		{name: "new target: bootstrap starts on a fresh state", view: ready(view(plain())),
			gates: "True/OK True/NotRequired Unknown/NotStarted - -", effects: "ResetState,StartBootstrap"},
		{name: "bootstrap queued: nothing new", view: withState(ready(view(plain())), State{Worker: branch, Bootstrap: Op{Phase: PhaseQueued, Fingerprint: bootFP}}),
			gates: "True/OK True/NotRequired Unknown/NotStarted - -"},
		{name: "bootstrap failed a moment ago: wait", view: withState(ready(view(plain())), State{Worker: branch,
			Bootstrap: Op{Phase: PhaseFailed, Fingerprint: bootFP, Failures: 1, Finished: now.Add(-time.Second), Message: "Bootstrap of path apps failed: x"}}),
			gates: "True/OK True/NotRequired False/BootstrapFailed - -", requeue: time.Second},
		{name: "bootstrap failed, backoff over: retry, the failure shows", view: withState(ready(view(plain())), State{Worker: branch,
			Bootstrap: Op{Phase: PhaseFailed, Fingerprint: bootFP, Failures: 1, Finished: now.Add(-time.Minute)}}),
			gates: "True/OK True/NotRequired False/BootstrapFailed - -", effects: "StartBootstrap"},
		{name: "credentials rotated: bootstrap again", view: withState(ready(view(plain())), State{Worker: branch, Bootstrap: done("old")}),
			gates: "True/OK True/NotRequired Unknown/NotStarted - -", effects: "StartBootstrap"},
		{name: "bootstrapped: the selection next", view: func() *View {
			v := withState(ready(view(plain())), State{Worker: branch, Bootstrap: done(bootFP)})
			v.Selection = nil
			return v
		}(), need: NeedSelection},
		{name: "bootstrapped: snapshot starts", view: withState(ready(view(plain())), State{Worker: branch, Bootstrap: done(bootFP)}),
			gates: "True/OK True/NotRequired True/BootstrapApplied False/Running Unknown/Blocked", effects: "Restrict:" + cmSel.Fingerprint() + ",StartSnapshot:" + cmSel.Fingerprint()},
		{name: "discovery failed", view: func() *View {
			v := withState(ready(view(plain())), State{Worker: branch, Bootstrap: done(bootFP)})
			v.Selection = &Selected{Err: errors.New("discovery of the source cluster failed")}
			return v
		}(), gates: "True/OK True/NotRequired True/BootstrapApplied False/SnapshotFailed Unknown/Blocked", requeue: 30 * time.Second},
		{name: "no stream (standalone)", view: func() *View {
			v := withState(ready(view(plain())), State{Worker: branch, Bootstrap: done(bootFP)})
			v.Source.Stream = false
			return v
		}(), gates: "True/OK True/NotRequired True/BootstrapApplied False/SnapshotFailed Unknown/Blocked", requeue: 30 * time.Second},
		{name: "snapshot done, stream live: Ready", view: func() *View { v := withState(ready(view(plain())), live); v.Live = true; return v }(),
			gates: "True/OK True/NotRequired True/BootstrapApplied True/Completed True/Registered"},
		{name: "pushes failing, within the grace: still live, look again when it ends", view: func() *View {
			st := live
			st.PushFailingSince, st.LastPushError, st.Pending = now.Add(-4*time.Second), "connection refused", 7
			v := withState(ready(view(plain())), st)
			v.Live = true
			return v
		}(), gates: "True/OK True/NotRequired True/BootstrapApplied True/Completed True/Registered", requeue: 6 * time.Second},
		{name: "pushes failing past the grace: Disconnected", view: func() *View {
			st := live
			st.PushFailingSince, st.LastPushError, st.Pending = now.Add(-45*time.Second), "connection refused", 7
			v := withState(ready(view(plain())), st)
			v.Live = true
			return v
		}(), gates: "True/OK True/NotRequired True/BootstrapApplied True/Completed False/Disconnected"},
		{name: "one of its types refused to the server while live: Disconnected, the other gates evaluated", view: func() *View {
			v := withState(ready(view(plain())), live)
			v.Live, v.Source.Refused = true, "the server may not watch gizmos.example.com"
			return v
		}(), gates: "True/OK True/NotRequired True/BootstrapApplied True/Completed False/Disconnected"},
		{name: "snapshot done, not registered", view: withState(ready(view(plain())), live),
			gates: "True/OK True/NotRequired True/BootstrapApplied True/Completed False/RegistrationFailed"},
		{name: "source cluster away while live: stored gates kept", view: func() *View {
			v := withState(ready(view(plain())), live)
			v.Source.Connected, v.Source.Why = false, "watch failed"
			return v
		}(), gates: "True/OK - - - False/Disconnected"},
		{name: "live, bootstrap again (credentials rotated): the selection is still resolved", view: func() *View {
			v := withState(ready(view(plain())), live)
			v.Credentials.Config.AuthID = "creds/2"
			v.Selection = nil
			return v
		}(), need: NeedSelection},
		{name: "live, bootstrap again: the stream is narrowed to the selection", view: func() *View {
			v := withState(ready(view(plain())), live)
			v.Credentials.Config.AuthID = "creds/2"
			v.Selection = &Selected{Selection: selection.Selection{}}
			return v
		}(), gates: "True/OK True/NotRequired Unknown/NotStarted - -", effects: "StartBootstrap,Restrict:" + selection.Selection{}.Fingerprint()},
		{name: "selection changed: re-snapshot, Running", view: func() *View {
			v := withState(ready(view(plain())), live)
			v.Selection = &Selected{Selection: selection.Selection{}}
			return v
		}(), gates: "True/OK True/NotRequired True/BootstrapApplied False/Running Unknown/Blocked", effects: "Restrict:" + selection.Selection{}.Fingerprint() + ",StartSnapshot:" + selection.Selection{}.Fingerprint()},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := Evaluate(tc.view)
			if d.Need != tc.need {
				t.Fatalf("need %d, want %d (gates %v)", d.Need, tc.need, d.Gates)
			}
			if tc.need != NeedNothing {
				if len(d.Gates) != 0 || len(d.Effects) != 0 {
					t.Errorf("a decision that needs input also decided: %+v", d)
				}
				return
			}
			var got []string
			for _, g := range v1alpha1.Gates {
				got = append(got, gate(d, g))
			}
			if strings.Join(got, " ") != tc.gates {
				t.Errorf("gates\n got %s\nwant %s", strings.Join(got, " "), tc.gates)
			}
			if effects(d) != tc.effects {
				t.Errorf("effects %q, want %q", effects(d), tc.effects)
			}
			if d.Requeue != tc.requeue || d.SkipWrite != tc.skip {
				t.Errorf("requeue %v skip %v, want %v %v", d.Requeue, d.SkipWrite, tc.requeue, tc.skip)
			}
		})
	}
}

// netError is a network error (a refused connection).
type netError struct{ error }

func (netError) Timeout() bool   { return false }
func (netError) Temporary() bool { return false }

// TestEvaluateToReady drives one target from nothing to Ready with the pure
// parts only: Evaluate's needs are answered, its effects applied to the state
// (as the controller does), and the workers' reports applied with
// State.Apply. Reports of a superseded configuration are ignored.
func TestEvaluateToReady(t *testing.T) {
	tg := plain()
	tg.Spec.Encryption = &v1alpha1.EncryptionSpec{Provider: "sops", SecretRef: v1alpha1.LocalSecretReference{Name: "key"}, GenerateWhenMissing: true}
	id, _ := age.GenerateX25519Identity()
	v := view(tg)
	var asked []Need
	var queued []Effect
	step := func() Decision {
		for {
			d := Evaluate(v)
			if d.Need == NeedNothing {
				for _, e := range d.Effects {
					switch e := e.(type) {
					case ResetState:
						v.State = State{Worker: e.Worker}
					case StartBootstrap:
						v.State = v.State.StartBootstrap(e.Fingerprint, e.Target.Path)
						queued = append(queued, e)
					case StartSnapshot:
						v.State = v.State.StartSnapshot(e.Fingerprint, e.Target.Path)
						queued = append(queued, e)
					}
				}
				return d
			}
			asked = append(asked, d.Need)
			switch d.Need {
			case NeedOwnership:
				v.Ownership = &Ownership{Owned: true}
			case NeedKeySecret:
				v.KeySecret = &KeySecret{}
			case NeedCreateKeySecret:
				v.KeySecret = &KeySecret{Found: true, Created: true, Data: map[string][]byte{"identity.agekey": []byte(id.String())}}
			case NeedCredentials:
				v.Credentials = &Credentials{Config: mirror.WorkerConfig{AuthID: "a"}}
			case NeedWorker:
				v.Worker = &Worker{UID: "w"}
			case NeedSelection:
				v.Selection = &Selected{Selection: cmSel}
			}
		}
	}
	report := func(r mirror.Result) { v.State = v.State.Apply(r) }

	d := step()
	want := []Need{NeedOwnership, NeedKeySecret, NeedCreateKeySecret, NeedCredentials, NeedWorker}
	if len(asked) != len(want) {
		t.Fatalf("asked %v, want %v", asked, want)
	}
	for i := range want {
		if asked[i] != want[i] {
			t.Fatalf("asked %v, want %v", asked, want)
		}
	}
	if len(queued) != 1 || gate(d, v1alpha1.ConditionBootstrapped) != "Unknown/NotStarted" {
		t.Fatalf("after the first pass: %v, queued %v", d.Gates, queued)
	}
	boot := queued[0].(StartBootstrap)
	report(mirror.Result{Target: "sut/t", Op: mirror.OpBootstrap, Fingerprint: "stale", Err: errors.New("ignored"), Time: now})
	report(mirror.Result{Target: "sut/t", Op: mirror.OpBootstrap, Fingerprint: boot.Fingerprint, Running: true, Time: now})
	report(mirror.Result{Target: "sut/t", Op: mirror.OpBootstrap, Fingerprint: boot.Fingerprint, Applied: true, Commit: "c1", Time: now})
	d = step()
	if gate(d, v1alpha1.ConditionBootstrapped) != "True/BootstrapApplied" || gate(d, v1alpha1.ConditionSnapshotSynced) != "False/Running" || len(queued) != 2 ||
		len(d.Effects) != 2 || d.Effects[0].(Restrict).Selection.Fingerprint() != cmSel.Fingerprint() {
		t.Fatalf("after the bootstrap: %v", d.Gates)
	}
	snap := queued[1].(StartSnapshot)
	if snap.Target.Keys == nil || snap.Target.Keys.Recipients[0] != id.Recipient().String() || snap.Target.Path != "apps" {
		t.Errorf("the snapshot is for %+v", snap.Target)
	}
	report(mirror.Result{Target: "sut/t", Op: mirror.OpSnapshot, Fingerprint: snap.Fingerprint, Running: true, Time: now})
	report(mirror.Result{Target: "sut/t", Op: mirror.OpSnapshot, Fingerprint: snap.Fingerprint, Running: true, Stats: v1alpha1.SnapshotStats{Created: 3}})
	if v.State.Snapshot.Stats.Created != 3 || v.State.Snapshot.Started != now {
		t.Errorf("progress: %+v", v.State.Snapshot)
	}
	report(mirror.Result{Target: "sut/t", Op: mirror.OpSnapshot, Fingerprint: snap.Fingerprint, Commit: "c2", Stats: v1alpha1.SnapshotStats{Created: 5}, Time: now.Add(time.Second)})
	v.Live = true
	d = step()
	for _, g := range v1alpha1.Gates {
		if d.Gates[g].Status != metav1.ConditionTrue {
			t.Errorf("%s = %+v, want True", g, d.Gates[g])
		}
	}
	if v.State.LastCommit != "c2" || !v.State.Streaming || len(queued) != 2 || len(d.Effects) != 0 {
		t.Errorf("state %+v, queued %d, effects %v", v.State, len(queued), d.Effects)
	}
	// A live commit moves the last commit; a status write shows it.
	report(mirror.Result{Target: "sut/t", Op: mirror.OpCommit, Commit: "c3", Time: now.Add(2 * time.Second)})
	var st v1alpha1.GitTargetStatus
	changed, transitions, err := WriteStatus(&st, &d, v.State, "apps", 1, now)
	if err != nil || !changed || st.LastCommit != "c3" || st.Snapshot.Stats.Created != 5 || st.Snapshot.Commit != "c2" || st.Bootstrap.Commit != "c1" ||
		st.Encryption == nil || st.Encryption.RecipientsHash == "" || st.WorkerRef.UID != "w" || !st.Stream.Registered || len(transitions) != 5 {
		t.Fatalf("status %+v (changed %v, %d transitions, %v)", st, changed, len(transitions), err)
	}
	if again, tr, _ := WriteStatus(&st, &d, v.State, "apps", 1, now.Add(time.Minute)); again || len(tr) != 0 {
		t.Errorf("writing the same decision again changed the status (%d transitions)", len(tr))
	}
}

// TestStateApply: the start/retry bookkeeping of both operations.
func TestStateApply(t *testing.T) {
	s := State{}.StartBootstrap("b1", "")
	for i := 1; i <= 3; i++ {
		s = s.Apply(mirror.Result{Op: mirror.OpBootstrap, Fingerprint: "b1", Running: true, Time: now})
		s = s.Apply(mirror.Result{Op: mirror.OpBootstrap, Fingerprint: "b1", Err: fmt.Errorf("git: push main: %w", &gitmodel.RemoteRefusal{Msg: "pre-receive hook declined"}), Time: now})
		if s.Bootstrap.Phase != PhaseFailed || s.Bootstrap.Failures != i || s.Bootstrap.Message != "Bootstrap of path / failed: the remote refused the push: pre-receive hook declined" {
			t.Fatalf("failure %d: %+v", i, s.Bootstrap)
		}
		if _, start, wait := bootstrapGate(s.Bootstrap, "b1", "", branch, now.Add(time.Second)); start || wait != Backoff(i)-time.Second {
			t.Errorf("failure %d: start %v wait %v, want the backoff %v minus 1s", i, start, wait, Backoff(i))
		}
		s = s.StartBootstrap("b1", "")
	}
	s = s.Apply(mirror.Result{Op: mirror.OpBootstrap, Fingerprint: "b1", Time: now})
	if s.Bootstrap.Phase != PhaseDone || s.Bootstrap.Failures != 0 || s.Bootstrap.Reason != v1alpha1.ReasonBootstrapNotNeeded || s.LastCommit != "" {
		t.Errorf("done: %+v", s.Bootstrap)
	}
	s = s.StartSnapshot("s1", "p")
	s = s.StartSnapshot("s2", "p") // superseded before it ran
	s = s.Apply(mirror.Result{Op: mirror.OpSnapshot, Fingerprint: "s1", Commit: "old", Time: now})
	if s.Snapshot.Phase != PhaseQueued || s.Snapshot.Fingerprint != "s2" || s.Streaming {
		t.Errorf("a superseded snapshot's report was applied: %+v", s.Snapshot)
	}
	s = s.Apply(mirror.Result{Op: mirror.OpSnapshot, Fingerprint: "s2", Err: &mirror.LocalError{Err: errors.New("listing configmaps: timeout")}, Time: now})
	if s.Snapshot.Message != "Snapshot of p failed: listing configmaps: timeout" || s.Snapshot.Failures != 1 {
		t.Errorf("snapshot failure: %+v", s.Snapshot)
	}
	// What a remote answered never reaches status: go-git puts an HTTP error's
	// body into its error (an internal service's, behind a tenant's URL).
	s = s.StartSnapshot("s3", "p")
	s = s.Apply(mirror.Result{Op: mirror.OpSnapshot, Fingerprint: "s3", Err: fmt.Errorf("authentication required: %w: %s", transport.ErrAuthenticationRequired, "INTERNAL-API-BODY"), Time: now})
	if strings.Contains(s.Snapshot.Message, "INTERNAL-API-BODY") || !strings.Contains(s.Snapshot.Message, "the remote refused the credentials") {
		t.Errorf("a remote's answer in status: %s", s.Snapshot.Message)
	}
	// Live pushes: a failure starts the clock once, the error and the waiting
	// count follow every report, a success ends it.
	s = s.Apply(mirror.Result{Op: mirror.OpCommit, Err: fmt.Errorf("dial tcp: %w", syscall.ECONNREFUSED), Pending: 3, Time: now})
	s = s.Apply(mirror.Result{Op: mirror.OpCommit, Err: fmt.Errorf("dial tcp: %w", syscall.ECONNREFUSED), Pending: 5, Time: now.Add(time.Minute)})
	if s.PushFailingSince != now || s.Pending != 5 || s.LastPushError != "connection refused" {
		t.Errorf("failing pushes: %+v", s)
	}
	s = s.Apply(mirror.Result{Op: mirror.OpCommit, Commit: "c9", Time: now.Add(2 * time.Minute)})
	if !s.PushFailingSince.IsZero() || s.Pending != 0 || s.LastPushError != "" || s.LastCommit != "c9" {
		t.Errorf("after the backlog was pushed: %+v", s)
	}
	s = s.Apply(mirror.Result{Op: mirror.OpCommit, Time: now.Add(3 * time.Minute)}) // nothing to commit
	if s.LastCommit != "c9" {
		t.Errorf("a flush without a commit moved the last commit: %q", s.LastCommit)
	}
	if PushGrace(time.Second) != 10*time.Second || PushGrace(5*time.Second) != 15*time.Second {
		t.Errorf("grace %v %v", PushGrace(time.Second), PushGrace(5*time.Second))
	}
	if Backoff(0) != time.Second || Backoff(1) != 2*time.Second || Backoff(20) != 2*time.Minute {
		t.Errorf("backoff %v %v %v", Backoff(0), Backoff(1), Backoff(20))
	}
}

// TestTransitionEventTypes: a transition to True is Normal, to a failing
// reason a Warning; Blocked, NotStarted and a running snapshot are Normal.
func TestTransitionEventTypes(t *testing.T) {
	for _, tc := range []struct {
		to   Outcome
		want string
	}{
		{True(v1alpha1.ReasonOK, MsgValidatedOK), corev1.EventTypeNormal},
		{True(v1alpha1.ReasonBootstrapApplied, "x"), corev1.EventTypeNormal},
		{False(v1alpha1.ReasonProviderNotFound, "x"), corev1.EventTypeWarning},
		{False(v1alpha1.ReasonSnapshotFailed, "x"), corev1.EventTypeWarning},
		{False(v1alpha1.ReasonDisconnected, "x"), corev1.EventTypeWarning},
		{False(v1alpha1.ReasonRunning, MsgSnapshotRunning), corev1.EventTypeNormal},
		{unknown(v1alpha1.ReasonBlocked, "x"), corev1.EventTypeNormal},
		{unknown(v1alpha1.ReasonNotStarted, "x"), corev1.EventTypeNormal},
	} {
		if got := (Transition{Gate: "G", From: "None", To: tc.to}).EventType(); got != tc.want {
			t.Errorf("-> %s/%s: %s, want %s", tc.to.Status, tc.to.Reason, got, tc.want)
		}
	}
	// The make run example: Validated None -> True/OK is Normal, whatever else
	// failed in the same evaluation.
	d := Decision{Gates: map[string]Outcome{
		v1alpha1.ConditionValidated:            True(v1alpha1.ReasonOK, MsgValidatedOK),
		v1alpha1.ConditionEncryptionConfigured: False(v1alpha1.ReasonSecretCreateDisabled, "x"),
	}}
	var st v1alpha1.GitTargetStatus
	_, tr, _ := WriteStatus(&st, &d, State{}, "", 1, now)
	if len(tr) != 2 || tr[0].EventType() != corev1.EventTypeNormal || tr[1].EventType() != corev1.EventTypeWarning ||
		tr[0].Message() != "Validated: None -> True/OK: Provider and branch validation passed" {
		t.Errorf("transitions %+v", tr)
	}
}
