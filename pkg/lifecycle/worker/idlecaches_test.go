package worker

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/configbutler/gitops-reverser/pkg/lifecycle/mirror"
)

// TestIdleWorkerDropsClonesCaches: a worker with nothing to do for
// IdleCaches lets go of its clone's decoded trees, and mirrors the next
// change as before; with IdleCaches negative it keeps them.
func TestIdleWorkerDropsClonesCaches(t *testing.T) {
	cmGVR := schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
	for _, tc := range []struct {
		idle    time.Duration
		dropped bool
	}{{50 * time.Millisecond, true}, {-1, false}} {
		t.Run(fmt.Sprint(tc.idle), func(t *testing.T) {
			tmp := t.TempDir()
			remote := filepath.Join(tmp, "remote.git")
			run(t, tmp, "init", "-q", "--bare", "-b", "main", remote)
			m := NewManager(Options{WorkDir: filepath.Join(tmp, "work"), Report: func(mirror.Result) {}, IdleCaches: tc.idle})
			defer m.Stop()
			key := mirror.BranchKey{Repo: remote, Branch: "main"}
			w := m.EnsureWorker(key, mirror.WorkerConfig{URL: "file://" + remote, MaxChanges: 100, Interval: 10 * time.Millisecond}, "demo/t")
			// entries reads the clone's decoded tree entries on the worker
			// goroutine (-1: no clone open); the probe is a task, so it is work.
			entries := func() int {
				got := make(chan int, 1)
				w.Submit("probe", func(context.Context) {
					if w.clone.repo == nil {
						got <- -1
						return
					}
					got <- w.clone.repo.CachedTreeEntries()
				})
				select {
				case n := <-got:
					return n
				case <-time.After(10 * time.Second):
					t.Fatal("the worker did not run the probe")
					return 0
				}
			}
			mirrorOne := func(name string) {
				w.Enqueue(&mirror.Change{TargetKey: "demo/t", GVR: cmGVR, Path: "base/v1/configmaps/demo/" + name + ".yaml",
					Object: cm("demo", name, map[string]interface{}{"v": name})})
				deadline := time.Now().Add(10 * time.Second)
				for {
					out, _ := exec.Command("git", "--git-dir", remote, "ls-tree", "-r", "--name-only", "main").Output()
					if strings.Contains(string(out), name+".yaml") {
						break
					}
					if time.Now().After(deadline) {
						t.Fatalf("%s never pushed", name)
					}
					time.Sleep(20 * time.Millisecond)
				}
			}
			mirrorOne("first")
			mirrorOne("second")
			// A read of the files decodes the trees into the cache (commits
			// leave only the trees they did not replace).
			read := make(chan error, 1)
			w.Submit("read", func(context.Context) {
				_, err := w.clone.repo.ListFiles("base/v1/configmaps/demo")
				read <- err
			})
			if err := <-read; err != nil {
				t.Fatal(err)
			}
			if tc.dropped {
				// Each probe is work: probe less often than IdleCaches.
				deadline := time.Now().Add(10 * time.Second)
				for n := -1; n != 0; {
					if time.Now().After(deadline) {
						t.Fatalf("the idle worker's clone still holds %d decoded tree entries", n)
					}
					time.Sleep(4 * tc.idle)
					n = entries()
				}
			} else {
				time.Sleep(300 * time.Millisecond)
				if n := entries(); n <= 0 {
					t.Fatalf("with IdleCaches %v the clone holds %d decoded tree entries after 300 ms, want its caches kept", tc.idle, n)
				}
			}
			mirrorOne("third")
			if got := run(t, tmp, "--git-dir", remote, "show", "main:base/v1/configmaps/demo/first.yaml"); !strings.Contains(got, "v: first") {
				t.Errorf("first.yaml after the caches went: %s", got)
			}
		})
	}
}
