package stream

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

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
	// refusals is closed (and replaced) when the set of refused feeds
	// changes: a target waiting for its feeds learns its type was refused.
	refusals chan struct{}

	// serves checks that the cluster serves reads of a core type (see
	// kindOf); set at construction, replaced by tests.
	serves func() error

	// onRefusals (set before any feed starts) learns the feeds refused or
	// streaming again, called without the lock: the router tells the
	// targets selecting their types, whose EventStreamLive changes, and no
	// other.
	onRefusals func(changed []feedKey)
}

// newConnectivity starts connected: nothing has failed yet.
func newConnectivity(disc discovery.DiscoveryInterface, report mirror.Reporter) *connectivity {
	return &connectivity{discovery: disc, report: report, link: link{answered: true}, refusals: make(chan struct{}),
		serves: servesReads(disc)}
}

// servesReads checks the cluster with a LIST of one Namespace (the server's
// ClusterRole always grants it): a consistent read, so it fails too when
// kube-apiserver answers but its storage (etcd) does not.
func servesReads(disc discovery.DiscoveryInterface) func() error {
	return func() error {
		if disc == nil || disc.RESTClient() == nil {
			return errors.New("no client to check the cluster with")
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return disc.RESTClient().Get().AbsPath("/api/v1/namespaces").Param("limit", "1").Do(ctx).Error()
	}
}

// refusedIn is why one of feeds is not streaming though the cluster answers
// ("" when none is refused; final: retrying cannot help, see link), and a
// channel closed when that may have changed.
func (c *connectivity) refusedIn(feeds []feedKey) (why string, final bool, changed <-chan struct{}) {
	c.mu.Lock()
	defer c.mu.Unlock()
	why, final = c.link.refusedIn(feeds)
	return why, final, c.refusals
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

// watchError records what a watch's error says (kindOf): nothing for a
// routine close; the type's targets alone for a refusal; otherwise the source
// cluster is disconnected, and probed until it answers again. Either way the
// feed counts again once its watch reopens (watchOpened).
func (c *connectivity) watchError(k feedKey, err error) {
	switch kind := kindOf(err, c.serves); kind {
	case routine:
	case typeGone:
		// The cluster answered: the feed stops once discovery drops the
		// type from every selection. A feed that failed before counts as
		// reopened, or one deleted CRD would hold every target
		// Disconnected.
		klog.V(2).InfoS("Watch of a type the source cluster no longer serves", "resource", k.gvr.String())
		c.watchOpened(k)
	case refusedFinal, refusedType:
		// Only the targets selecting the type are not streaming; the feed
		// retries, so a ClusterRole that grants the type, or its webhook
		// back, is picked up.
		c.change(func(l link) link { return l.refuse(k, err.Error(), kind == refusedFinal) }, false)
	default:
		klog.InfoS("Watch of the source cluster failed", "resource", k.gvr.String(), "err", err)
		why := fmt.Sprintf("watch of %s failed: %v", k.gvr.String(), err)
		c.change(func(l link) link { return l.failed(k, why) }, true)
	}
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
// (once, not per failure), tells onRefusals of feeds refused or streaming again,
// and starts a probe when asked and none runs.
func (c *connectivity) change(next func(link) link, probe bool) {
	c.mu.Lock()
	was, wasRefused := c.link.up(), c.link.refused
	c.link = next(c.link)
	now, why, refused := c.link.up(), c.link.why(), c.link.refused
	changed := changedKeys(wasRefused, refused)
	if len(changed) > 0 {
		close(c.refusals)
		c.refusals = make(chan struct{})
	}
	startProbe := probe && !c.probing && !c.stopped
	c.probing = c.probing || startProbe
	c.mu.Unlock()
	switch {
	case was && !now:
		c.report(mirror.Result{Op: mirror.OpSource, Err: errors.New(why), Time: time.Now()})
	case !was && now:
		klog.InfoS("Source cluster answers again and every watch that failed has reopened")
		c.report(mirror.Result{Op: mirror.OpSource, Time: time.Now()})
	}
	if len(changed) > 0 {
		names := make([]string, 0, len(refused))
		for k, r := range refused {
			names = append(names, k.gvr.GroupResource().String()+": "+r.why)
		}
		sort.Strings(names)
		klog.InfoS("Watches the cluster refuses changed (the targets selecting their types are not streaming)", "refused", names)
		if c.onRefusals != nil {
			c.onRefusals(changed)
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

// changedKeys: the feeds in a or b but not both, or refused finally in
// one and not the other (a waiting target fails at once on a final one).
func changedKeys(a, b map[feedKey]refusal) []feedKey {
	var out []feedKey
	for k, ra := range a {
		if rb, ok := b[k]; !ok || ra.final != rb.final {
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
