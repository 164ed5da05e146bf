package idlememory

import (
	"context"
	"runtime/debug"
	"runtime/metrics"
	"time"

	"k8s.io/klog/v2"
)

// Releaser samples the runtime every Policy.Every and releases when the
// policy says so.
type Releaser struct {
	policy  Policy
	read    func() Sample
	release func()
	now     func() time.Time

	prev   Sample
	prevAt time.Time
	// armed: a burst was seen since the last release (start-up is one).
	armed bool
}

// New is a Releaser of this process's memory.
func New(p Policy) *Releaser {
	return &Releaser{policy: p, read: readRuntime, release: debug.FreeOSMemory, now: time.Now, armed: true}
}

// Run samples until ctx is done.
func (r *Releaser) Run(ctx context.Context) {
	t := time.NewTicker(r.policy.Every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			r.tick()
		}
	}
}

// tick takes one sample and releases when the policy says so; it reports
// whether it did.
func (r *Releaser) tick() bool {
	cur, at := r.read(), r.now()
	first := r.prevAt.IsZero()
	prev, elapsed := r.prev, at.Sub(r.prevAt)
	r.prev, r.prevAt = cur, at
	if first {
		return false
	}
	var release bool
	release, r.armed = r.policy.Step(prev, cur, elapsed, r.armed)
	if !release {
		return false
	}
	r.release()
	after := r.read()
	klog.V(2).InfoS("Quiet server gave memory back", "retainedBefore", cur.Retained, "retainedAfter", after.Retained, "live", after.Live)
	// The next window starts after the release, which allocated nothing
	// worth counting.
	r.prev, r.prevAt = after, r.now()
	return true
}

var sampleNames = []string{
	"/gc/heap/allocs:bytes",
	"/gc/heap/live:bytes",
	"/memory/classes/heap/objects:bytes",
	"/memory/classes/heap/unused:bytes",
	"/memory/classes/heap/free:bytes",
}

// readRuntime reads a Sample from runtime/metrics (no stop-the-world).
func readRuntime() Sample {
	s := make([]metrics.Sample, len(sampleNames))
	for i, n := range sampleNames {
		s[i].Name = n
	}
	metrics.Read(s)
	v := func(i int) uint64 {
		if s[i].Value.Kind() != metrics.KindUint64 {
			return 0
		}
		return s[i].Value.Uint64()
	}
	return Sample{Allocated: v(0), Live: v(1), Retained: v(2) + v(3) + v(4)}
}
