package stream

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	fakediscovery "k8s.io/client-go/discovery/fake"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	clienttesting "k8s.io/client-go/testing"

	"github.com/configbutler/gitops-reverser/pkg/lifecycle/mirror"
)

// refusingCluster is a fake source cluster whose ConfigMaps are always
// readable and whose gizmos are readable only while allowed: otherwise their
// list and watch are refused (403), as kube-apiserver refuses a type the
// server's ClusterRole does not grant.
type refusingCluster struct {
	mu      sync.Mutex
	allowed bool
	watches []*watch.FakeWatcher // the gizmos watches opened
}

var gizmoType = schema.GroupVersionResource{Group: "forbidden.example.com", Version: "v1", Resource: "gizmos"}

func (c *refusingCluster) client() *dynamicfake.FakeDynamicClient {
	dyn := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(),
		map[schema.GroupVersionResource]string{cmType: "ConfigMapList", gizmoType: "GizmoList"})
	refused := apierrors.NewForbidden(gizmoType.GroupResource(), "", nil)
	for _, res := range []string{"configmaps", "gizmos"} {
		dyn.PrependReactor("list", res, func(clienttesting.Action) (bool, runtime.Object, error) {
			if res == "gizmos" && !c.isAllowed() {
				return true, nil, refused
			}
			l := &unstructured.UnstructuredList{Object: map[string]interface{}{"apiVersion": "v1", "kind": "List"}}
			l.SetResourceVersion("50")
			return true, l, nil
		})
		dyn.PrependWatchReactor(res, func(clienttesting.Action) (bool, watch.Interface, error) {
			if res == "configmaps" {
				return true, watch.NewFake(), nil
			}
			c.mu.Lock()
			defer c.mu.Unlock()
			if !c.allowed {
				return true, nil, refused
			}
			w := watch.NewFake()
			c.watches = append(c.watches, w)
			return true, w, nil
		})
	}
	return dyn
}

func (c *refusingCluster) isAllowed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.allowed
}

// allow grants or refuses gizmos; refusing also ends the open watches, as
// the next watch (every 5 to 10 minutes) would be refused.
func (c *refusingCluster) allow(ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.allowed = ok
	if !ok {
		for _, w := range c.watches {
			w.Stop()
		}
		c.watches = nil
	}
}

// TestRefusedTypeConcernsOnlyItsTargets: a type the server may not read
// (403) never takes the stream down. A target waiting for its watch learns
// at once (not after openTimeout) that it is refused, and why; a live
// target whose type is refused later is told and reports it (Denied), and
// is told again when the type is readable; a target of another type is
// never told and never denied.
func TestRefusedTypeConcernsOnlyItsTargets(t *testing.T) {
	cluster := &refusingCluster{}
	var mu sync.Mutex
	var reports []mirror.Result
	report := func(r mirror.Result) {
		mu.Lock()
		defer mu.Unlock()
		reports = append(reports, r)
	}
	reported := func(op mirror.Operation, target string) int {
		mu.Lock()
		defer mu.Unlock()
		n := 0
		for _, r := range reports {
			if r.Op == op && r.Target == target {
				n++
			}
		}
		return n
	}
	r := New(cluster.client(), nil, &fakediscovery.FakeDiscovery{Fake: &clienttesting.Fake{}}, report)
	defer r.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	cms := &mirror.Target{Key: "a/t", Selection: in(cmType, "a")}
	if _, err := r.BeginBuffer(ctx, cms, sink{}, nil); err != nil {
		t.Fatal(err)
	}
	r.GoLive(cms.Key, map[schema.GroupVersionResource]string{cmType: "50"})

	gizmos := &mirror.Target{Key: "b/t", Selection: in(gizmoType, "b")}
	_, err := r.BeginBuffer(ctx, gizmos, sink{}, nil)
	if err == nil || !strings.Contains(err.Error(), "the server may not watch gizmos.forbidden.example.com") {
		t.Fatalf("BeginBuffer of a refused type: %v, want it to say the server may not watch gizmos", err)
	}
	if up, why := r.Connected(); !up {
		t.Fatalf("a refused type took the stream down: %s", why)
	}

	// Readable: a target of gizmos goes live; then refused, then readable.
	cluster.allow(true)
	live := &mirror.Target{Key: "c/t", Selection: in(gizmoType, "c")}
	if _, err := r.BeginBuffer(ctx, live, sink{}, nil); err != nil {
		t.Fatal(err)
	}
	r.GoLive(live.Key, map[schema.GroupVersionResource]string{gizmoType: "50"})
	waitFor(t, 10*time.Second, "gizmos streaming", func() bool { return r.Refused(live.Key) == "" })
	told := reported(mirror.OpStream, live.Key)

	cluster.allow(false)
	waitFor(t, 10*time.Second, "the live gizmos target refused", func() bool {
		return strings.Contains(r.Refused(live.Key), "the server may not watch gizmos.forbidden.example.com")
	})
	if n := reported(mirror.OpStream, live.Key); n <= told {
		t.Errorf("the live gizmos target was not told its type is refused")
	}
	if up, why := r.Connected(); !up {
		t.Errorf("a refused type took the stream down: %s", why)
	}
	told = reported(mirror.OpStream, live.Key)

	cluster.allow(true)
	waitFor(t, 10*time.Second, "gizmos streaming again", func() bool { return r.Refused(live.Key) == "" })
	waitFor(t, 10*time.Second, "the live gizmos target told", func() bool { return reported(mirror.OpStream, live.Key) > told })

	if d := r.Refused(cms.Key); d != "" {
		t.Errorf("the ConfigMaps target is denied: %s", d)
	}
	if n := reported(mirror.OpStream, cms.Key) + reported(mirror.OpSource, ""); n != 0 {
		t.Errorf("the ConfigMaps target or every target was told %d times of gizmos", n)
	}
}
