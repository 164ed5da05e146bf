// Package idlememory keeps the server's memory close to what it uses: it sets
// the collector's growth (GCPercent: a quarter past the live heap unless GOGC
// says otherwise) and gives the heap's free pages back to the operating system
// once the server has gone quiet after a burst of work.
//
// The collector sizes the heap past what is live (by GOGC: Go's own default
// doubles it), and its background scavenger keeps about that much resident,
// and more where a burst left its spans fragmented: after a burst (a thousand
// targets coming up, a snapshot of a large cluster) an idle server holds tens
// of MiB it no longer uses until the next burst. A server that has been quiet
// for a while gives them back, once per burst: the decision is Policy.Step
// (pure), the sampling and the release are Releaser's.
package idlememory

import "time"

// Sample is one look at the runtime's heap.
type Sample struct {
	// Allocated is every byte allocated since the process started.
	Allocated uint64
	// Retained is the heap backed by memory: objects (live or not yet
	// collected), free space in their spans, and free spans not yet given
	// back.
	Retained uint64
	// Live is the heap the last collection found reachable.
	Live uint64
}

// Policy says when a quiet server gives memory back.
type Policy struct {
	// Every is how often the runtime is sampled.
	Every time.Duration
	// QuietRate is the allocation rate (bytes a second, over Every) under
	// which the server counts as quiet: an idle server's watches, leases
	// and scrapes allocate well under it.
	QuietRate uint64
	// MinRelease is the least worth a forced collection: the release
	// costs one full mark of the live heap.
	MinRelease uint64
}

// Default samples every 10 s; quiet is under 1 MiB/s; releases of 16 MiB
// and more.
var Default = Policy{Every: 10 * time.Second, QuietRate: 1 << 20, MinRelease: 16 << 20}

// Step decides, for cur sampled elapsed after prev, whether to give memory
// back now, and whether the next quiet window may (armed). A window that
// allocated QuietRate or more is a burst and arms the next release; a quiet
// one releases when armed and at least MinRelease beyond the live heap is
// held. One release per burst: a server that keeps allocating a little
// collects on its own schedule, without a forced collection every few
// windows.
func (p Policy) Step(prev, cur Sample, elapsed time.Duration, armed bool) (release, armedAfter bool) {
	if elapsed <= 0 || cur.Allocated < prev.Allocated {
		return false, armed
	}
	if float64(cur.Allocated-prev.Allocated)/elapsed.Seconds() >= float64(p.QuietRate) {
		return false, true
	}
	if armed && cur.Retained > cur.Live && cur.Retained-cur.Live >= p.MinRelease {
		return true, false
	}
	return false, armed
}
