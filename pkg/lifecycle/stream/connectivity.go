package stream

import (
	"errors"
	"fmt"
	"io"
	"sort"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
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
	// denials is closed (and replaced) when the set of denied types
	// changes: a target waiting for its feeds learns its type was refused.
	denials chan struct{}

	// onDenials (set before any feed starts) learns the types denied or
	// readable again, called without the lock: the router tells the targets
	// selecting them, whose EventStreamLive changes, and no other.
	onDenials func(changed []feedKey)
}

// newConnectivity starts connected: nothing has failed yet.
func newConnectivity(disc discovery.DiscoveryInterface, report mirror.Reporter) *connectivity {
	return &connectivity{discovery: disc, report: report, link: link{answered: true}, denials: make(chan struct{})}
}

// deniedIn is why one of types is not streaming because the server may not
// read it ("" when it may read them all), and a channel closed when that may
// have changed.
func (c *connectivity) deniedIn(feeds []feedKey) (string, <-chan struct{}) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.link.deniedIn(feeds), c.denials
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
func (c *connectivity) watchError(k feedKey, err error) {
	if errors.Is(err, io.EOF) || apierrors.IsResourceExpired(err) || apierrors.IsGone(err) {
		return // a watch closing or expiring is routine: the feed reopens it
	}
	if apierrors.IsNotFound(err) {
		// The type is gone (its CRD deleted): the cluster answered, and the
		// feed stops once discovery drops the type from every selection. A
		// feed that failed before counts as reopened, or one deleted CRD
		// would hold every target Disconnected.
		klog.V(2).InfoS("Watch of a type the source cluster no longer serves", "resource", k.gvr.String())
		c.watchOpened(k)
		return
	}
	if apierrors.IsForbidden(err) {
		// The cluster answered: the server may not read the type. Only the
		// targets selecting it are not streaming; the feed retries, so a
		// ClusterRole that grants it later is picked up.
		c.change(func(l link) link { return l.forbidden(k, err.Error()) }, false)
		return
	}
	klog.InfoS("Watch of the source cluster failed", "resource", k.gvr.String(), "err", err)
	why := fmt.Sprintf("watch of %s failed: %v", k.gvr.String(), err)
	c.change(func(l link) link { return l.failed(k, why) }, true)
}

// watchOpened: k's feed streams again (or stopped for good).
func (c *connectivity) watchOpened(k feedKey) {
	c.change(func(l link) link { return l.reopened(k) }, false)
}

// markDisconnected records why the cluster did not answer and probes until
// it does.
func (c *connectivity) markDisconnected(why string) {
	c.change(func(l link) link { return l.unreachable(why) }, true)
}

// change applies a transition, reports the stream going down or coming up
// (once, not per failure), tells onDenials of types denied or readable again,
// and starts a probe when asked and none runs.
func (c *connectivity) change(next func(link) link, probe bool) {
	c.mu.Lock()
	was, wasDenied := c.link.up(), c.link.denied
	c.link = next(c.link)
	now, why, denied := c.link.up(), c.link.why(), c.link.denied
	if !sameKeys(wasDenied, denied) {
		close(c.denials)
		c.denials = make(chan struct{})
	}
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
	if changed := changedKeys(wasDenied, denied); len(changed) > 0 {
		names := make([]string, 0, len(denied))
		for k := range denied {
			names = append(names, k.gvr.GroupResource().String())
		}
		sort.Strings(names)
		klog.InfoS("Types the server may not watch changed (the targets selecting them are not streaming)", "denied", names)
		if c.onDenials != nil {
			c.onDenials(changed)
		}
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

// sameKeys: a and b hold the same feeds.
func sameKeys(a, b map[feedKey]string) bool {
	return len(changedKeys(a, b)) == 0
}

// changedKeys: the feeds in a or b but not both.
func changedKeys(a, b map[feedKey]string) []feedKey {
	var out []feedKey
	for k := range a {
		if _, ok := b[k]; !ok {
			out = append(out, k)
		}
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			out = append(out, k)
		}
	}
	return out
}
