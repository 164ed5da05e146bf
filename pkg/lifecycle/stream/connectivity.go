package stream

import (
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/klog/v2"

	"github.com/configbutler/gitops-reverser/pkg/lifecycle/mirror"
)

// connectivity tracks whether the source cluster answers: a feed whose watch
// cannot reach it, or another reader of the cluster (ReportUnreachable),
// marks it disconnected, and a probe polls until it answers again. It
// depends on no feed or target, so it has a lock of its own: marking the
// cluster disconnected never waits for routing, nor routing for it. No code
// holds this lock while taking the registry's, or the other way round.
type connectivity struct {
	discovery discovery.DiscoveryInterface
	report    mirror.Reporter // told when the cluster stops or starts answering

	mu        sync.Mutex // guards the fields below
	connected bool
	lastError string
	probing   bool // a probe runs; at most one does
	stopped   bool // the stream stopped: no probe starts, a running one ends
}

// state reports whether the source cluster answers, and the last error.
func (c *connectivity) state() (bool, string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.connected, c.lastError
}

// why is the last error ("" when none since the cluster last answered).
func (c *connectivity) why() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lastError
}

// stop ends the probing for good.
func (c *connectivity) stop() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stopped = true
}

// watchError marks the source cluster disconnected when a watch cannot reach it,
// and probes until it answers again.
func (c *connectivity) watchError(gvr schema.GroupVersionResource, err error) {
	if errors.Is(err, io.EOF) || apierrors.IsResourceExpired(err) || apierrors.IsGone(err) {
		return // a watch closing or expiring is routine: the feed reopens it
	}
	klog.InfoS("Watch of the source cluster failed", "resource", gvr.String(), "err", err)
	c.markDisconnected(fmt.Sprintf("watch of %s failed: %v", gvr.String(), err))
}

// markDisconnected records why the cluster did not answer, reports the change
// (once, not per failure) and starts a probe unless one runs.
func (c *connectivity) markDisconnected(why string) {
	c.mu.Lock()
	wasConnected := c.connected
	c.connected = false
	c.lastError = why
	startProbe := !c.probing && !c.stopped
	c.probing = c.probing || startProbe
	c.mu.Unlock()
	if wasConnected {
		c.report(mirror.Result{Op: mirror.OpSource, Err: errors.New(why), Time: time.Now()})
	}
	if startProbe {
		go c.probe()
	}
}

// probe polls the source cluster until it answers, then marks it connected.
// The feeds reopen their watches where they stopped, so changes made meanwhile
// arrive as events.
func (c *connectivity) probe() {
	for {
		time.Sleep(time.Second)
		c.mu.Lock()
		stopped := c.stopped
		c.mu.Unlock()
		if stopped {
			return
		}
		if _, err := c.discovery.ServerVersion(); err != nil {
			continue
		}
		c.mu.Lock()
		c.connected = true
		c.lastError = ""
		c.probing = false
		c.mu.Unlock()
		klog.InfoS("Source cluster answers again")
		c.report(mirror.Result{Op: mirror.OpSource, Time: time.Now()})
		return
	}
}
