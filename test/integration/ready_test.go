package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/yaml"

	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler/v1alpha1"
	"github.com/configbutler/gitops-reverser/pkg/conditions"
)

// setGates is what the lifecycle does: write gate conditions through the internal
// status writer.
func setGates(t *testing.T, ns, name string, st v1alpha1.GitTargetStatus) (bool, *v1alpha1.GitTarget) {
	t.Helper()
	out, changed, err := srv.Writers.GitTargets.Update(testContext(t), ns, name, func(obj runtime.Object) (bool, error) {
		tg := obj.(*v1alpha1.GitTarget)
		before := tg.Status.DeepCopy()
		tg.Status.Conditions = st.Conditions
		tg.Status.LastReconcileTime = st.LastReconcileTime
		tg.Status.LastCommit = st.LastCommit
		tg.Status.LastPushTime = st.LastPushTime
		tg.Status.Snapshot = st.Snapshot
		// Compare without the stored Ready, which the writer maintains itself.
		b, _ := conditions.Remove(before.Conditions, v1alpha1.ConditionReady)
		return !conditions.Equal(b, st.Conditions) || before.LastCommit != st.LastCommit, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return changed, out.(*v1alpha1.GitTarget)
}

// TestReadyComputedOnEveryRead reproduces the seed's five status examples through
// the internal writer and checks Ready (and status.observedGeneration) on GET,
// LIST (from etcd and from the watch cache) and WATCH (watch cache on).
func TestReadyComputedOnEveryRead(t *testing.T) {
	files, _ := filepath.Glob("../../pkg/conditions/testdata/seed-example-*.yaml")
	if len(files) != 5 {
		t.Fatalf("found %d seed examples", len(files))
	}
	c, ns := srv.Client.ConfigbutlerV1alpha1(), namespace()
	ctx := testContext(t)
	for i, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var seed struct {
				Status v1alpha1.GitTargetStatus `json:"status"`
			}
			if err := yaml.UnmarshalStrict(raw, &seed); err != nil {
				t.Fatal(err)
			}
			wantReady := *conditions.Find(seed.Status.Conditions, v1alpha1.ConditionReady)
			gates, _ := conditions.Remove(seed.Status.Conditions, v1alpha1.ConditionReady)
			seed.Status.Conditions = gates

			name := fmt.Sprintf("ex-%d", i+1)
			created, err := c.GitTargets(ns).Create(ctx, target(ns, name, "main-provider", "main", "clusters/prod"), metav1.CreateOptions{})
			if err != nil {
				t.Fatal(err)
			}
			w, err := c.GitTargets(ns).Watch(ctx, metav1.ListOptions{ResourceVersion: created.ResourceVersion, FieldSelector: "metadata.name=" + name})
			if err != nil {
				t.Fatal(err)
			}
			defer w.Stop()

			changed, written := setGates(t, ns, name, seed.Status)
			if !changed {
				t.Fatal("first status write reported no change")
			}
			check := func(how string, tg *v1alpha1.GitTarget) {
				t.Helper()
				got := conditions.Find(tg.Status.Conditions, v1alpha1.ConditionReady)
				if got == nil {
					t.Fatalf("%s: no Ready", how)
				}
				if diff := cmp.Diff(wantReady, *got); diff != "" {
					t.Errorf("%s: Ready differs from the seed (-seed +served):\n%s", how, diff)
				}
				if tg.Status.ObservedGeneration != seed.Status.ObservedGeneration {
					t.Errorf("%s: status.observedGeneration %d, seed %d", how, tg.Status.ObservedGeneration, seed.Status.ObservedGeneration)
				}
				if n := len(tg.Status.Conditions); n != len(gates)+1 || tg.Status.Conditions[n-1].Type != v1alpha1.ConditionReady {
					t.Errorf("%s: conditions %v", how, tg.Status.Conditions)
				}
			}
			check("writer result", written)

			got, err := c.GitTargets(ns).Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			check("GET", got)
			// A resourceVersion on GET/LIST is served from the watch cache, once it
			// has caught up with that version.
			cached, err := c.GitTargets(ns).Get(ctx, name, metav1.GetOptions{ResourceVersion: written.ResourceVersion})
			if err != nil {
				t.Fatal(err)
			}
			check("GET from the watch cache", cached)
			for _, rv := range []string{"", written.ResourceVersion} {
				opts := metav1.ListOptions{ResourceVersion: rv, FieldSelector: "metadata.name=" + name}
				if rv != "" {
					opts.ResourceVersionMatch = metav1.ResourceVersionMatchNotOlderThan
				}
				l, err := c.GitTargets(ns).List(ctx, opts)
				if err != nil || len(l.Items) != 1 {
					t.Fatalf("LIST rv=%q: %v", rv, err)
				}
				check("LIST rv="+rv, &l.Items[0])
			}
			select {
			case ev := <-w.ResultChan():
				if ev.Type != watch.Modified {
					t.Fatalf("watch event %s", ev.Type)
				}
				check("WATCH", ev.Object.(*v1alpha1.GitTarget))
			case <-time.After(20 * time.Second):
				t.Fatal("no watch event for the status write")
			}

			// Writing the same gates again is a no-op: no new resourceVersion.
			again, rewritten := setGates(t, ns, name, seed.Status)
			if again || rewritten.ResourceVersion != got.ResourceVersion {
				t.Errorf("no-op status write changed something: changed=%v rv %s -> %s", again, got.ResourceVersion, rewritten.ResourceVersion)
			}
			// A spec update keeps the gates, and Ready's observedGeneration stays
			// behind the new generation until the lifecycle catches up.
			got.Spec.Path = "clusters/other"
			upd, err := c.GitTargets(ns).Update(ctx, got, metav1.UpdateOptions{})
			if err != nil {
				t.Fatal(err)
			}
			check("update response", upd)
		})
	}
}

// TestWatchersShareCacheWithoutCorruption: two watchers and a cached LIST all see
// the computed Ready; decorating one watcher's event must not alter what the
// cache hands to the next reader.
func TestWatchersShareCacheWithoutCorruption(t *testing.T) {
	c, ns := srv.Client.ConfigbutlerV1alpha1(), namespace()
	ctx := testContext(t)
	created, err := c.GitTargets(ns).Create(ctx, target(ns, "shared", "p", "main", "x"), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var watchers []watch.Interface
	for i := 0; i < 3; i++ {
		w, err := c.GitTargets(ns).Watch(ctx, metav1.ListOptions{ResourceVersion: created.ResourceVersion})
		if err != nil {
			t.Fatal(err)
		}
		defer w.Stop()
		watchers = append(watchers, w)
	}
	now := metav1.NewTime(time.Now().Truncate(time.Second))
	var st v1alpha1.GitTargetStatus
	for _, g := range v1alpha1.Gates {
		st.Conditions = append(st.Conditions, metav1.Condition{Type: g, Status: "True", Reason: "OK", Message: "ok", ObservedGeneration: 1, LastTransitionTime: now})
	}
	setGates(t, ns, "shared", st)
	for i, w := range watchers {
		select {
		case ev := <-w.ResultChan():
			tg := ev.Object.(*v1alpha1.GitTarget)
			if r := conditions.Find(tg.Status.Conditions, "Ready"); r == nil || r.Status != "True" || len(tg.Status.Conditions) != 6 {
				t.Errorf("watcher %d: %+v", i, tg.Status.Conditions)
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("watcher %d got no event", i)
		}
	}
	written, _ := c.GitTargets(ns).Get(ctx, "shared", metav1.GetOptions{})
	l, err := c.GitTargets(ns).List(ctx, metav1.ListOptions{ResourceVersion: written.ResourceVersion, ResourceVersionMatch: metav1.ResourceVersionMatchNotOlderThan})
	if err != nil || len(l.Items) != 1 || len(l.Items[0].Status.Conditions) != 6 {
		t.Fatalf("cached list after watchers: %v %+v", err, l)
	}
}
