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

// reopenSettle is how long a reopened watch must stay open without an error
// (or deliver an event first) before its feed counts as streaming again. A
// watch whose position expired opens and then fails at once with 410: the
// target then takes a new snapshot, and it must not be reported live in
// between.
const reopenSettle = time.Second

// connectivity tracks whether the source cluster answers and the feeds
// stream (see link): a feed whose watch cannot reach it, or another reader
// of the cluster (ReportUnreachable), marks it disconnected; a probe polls
// until it answers again, and each failed feed counts again once its watch
// has reopened. It depends on no feed or target, so it has a lock of its
// own: marking the cluster disconnected never waits for routing, nor routing
// for it. No code holds this lock while taking the registry's, or the other
// way round.
type connectivity struct {
	discovery discovery.DiscoveryInterface
	report    mirror.Reporter // told when the stream goes down or comes up

	mu      sync.Mutex // guards the fields below
	link    link
	probing bool // a probe runs; at most one does
	stopped bool // the stream stopped: no probe starts, a running one ends
}

// newConnectivity starts connected: nothing has failed yet.
func newConnectivity(disc discovery.DiscoveryInterface, report mirror.Reporter) *connectivity {
	return &connectivity{discovery: disc, report: report, link: link{answered: true}}
}

// state reports whether the stream is up, and why not.
func (c *connectivity) state() (bool, string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.link.up(), c.link.why()
}

// why is the reason the stream is not up ("" when it is).
func (c *connectivity) why() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.link.why()
}

// stop ends the probing for good.
func (c *connectivity) stop() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stopped = true
}

// watchError marks the source cluster disconnected when a watch cannot reach
// it, and probes until it answers again; the feed counts again once its
// watch reopens (watchOpened).
func (c *connectivity) watchError(gvr schema.GroupVersionResource, err error) {
	if errors.Is(err, io.EOF) || apierrors.IsResourceExpired(err) || apierrors.IsGone(err) {
		return // a watch closing or expiring is routine: the feed reopens it
	}
	if apierrors.IsNotFound(err) {
		// The type is gone (its CRD deleted): the cluster answered, and the
		// feed stops once discovery drops the type from every selection. A
		// feed that failed before counts as reopened, or one deleted CRD
		// would hold every target Disconnected.
		klog.V(2).InfoS("Watch of a type the source cluster no longer serves", "resource", gvr.String())
		c.watchOpened(gvr)
		return
	}
	klog.InfoS("Watch of the source cluster failed", "resource", gvr.String(), "err", err)
	why := fmt.Sprintf("watch of %s failed: %v", gvr.String(), err)
	c.change(func(l link) link { return l.failed(gvr, why) }, true)
}

// watchOpened: gvr's feed streams again (or stopped for good).
func (c *connectivity) watchOpened(gvr schema.GroupVersionResource) {
	c.change(func(l link) link { return l.reopened(gvr) }, false)
}

// markDisconnected records why the cluster did not answer and probes until
// it does.
func (c *connectivity) markDisconnected(why string) {
	c.change(func(l link) link { return l.unreachable(why) }, true)
}

// change applies a transition, reports the stream going down or coming up
// (once, not per failure) and starts a probe when asked and none runs.
func (c *connectivity) change(next func(link) link, probe bool) {
	c.mu.Lock()
	was := c.link.up()
	c.link = next(c.link)
	now, why := c.link.up(), c.link.why()
	startProbe := probe && !c.probing && !c.stopped
	c.probing = c.probing || startProbe
	c.mu.Unlock()
	switch {
	case was && !now:
		c.report(mirror.Result{Op: mirror.OpSource, Err: errors.New(why), Time: time.Now()})
	case !was && now:
		klog.InfoS("Source cluster answers again and every watch is open")
		c.report(mirror.Result{Op: mirror.OpSource, Time: time.Now()})
	}
	if startProbe {
		go c.probe()
	}
}

// probe polls the source cluster until it answers. The feeds reopen their
// watches where they stopped, so changes made meanwhile arrive as events;
// the stream is up when they have (watchOpened).
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
		c.probing = false
		c.mu.Unlock()
		c.change(link.probed, false)
		return
	}
}
