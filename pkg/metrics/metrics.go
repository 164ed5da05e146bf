// Package metrics holds gitops-reverser's own Prometheus metrics, registered
// with k8s.io/component-base's legacy registry, which the generic API server
// serves at /metrics behind the delegated authorizer (like its own series).
// The README lists each with what to alert on.
//
// Labels are bounded: gate, status and reason (the seed's sets), operation
// and outcome kinds, and this replica's name. Nothing is labelled per object,
// and per target only where the question is per target (none so far: the
// target-by-gate gauge counts targets).
package metrics

import (
	"sync"
	"time"

	"k8s.io/component-base/metrics"
	"k8s.io/component-base/metrics/legacyregistry"
)

const namespace = "gitopsreverser"

var (
	// SnapshotDuration is the time from a snapshot's start to its pushed commit.
	SnapshotDuration = metrics.NewHistogram(&metrics.HistogramOpts{
		Namespace: namespace, Name: "snapshot_duration_seconds",
		Help:           "Time a snapshot took, from its start (the watches of the selected types) to its commit pushed.",
		Buckets:        metrics.ExponentialBuckets(0.05, 2, 12), // 50 ms .. 100 s
		StabilityLevel: metrics.ALPHA,
	})
	// SnapshotObjects counts what snapshots did with objects.
	SnapshotObjects = metrics.NewCounterVec(&metrics.CounterOpts{
		Namespace: namespace, Name: "snapshot_objects_total",
		Help:           "Objects snapshots handled, by what they did: created, updated, deleted, unchanged, skipped (Secrets without encryption), failed (could not be written; named in an Event of the target).",
		StabilityLevel: metrics.ALPHA,
	}, []string{"result"})
	// SnapshotTypes counts how snapshots read each type: listed, or replayed
	// from the resume point of the branch worker's index (a restart).
	SnapshotTypes = metrics.NewCounterVec(&metrics.CounterOpts{
		Namespace: namespace, Name: "snapshot_types_total",
		Help:           "Types finished snapshots read, by how: listed (a LIST of the type) or replayed (the watch resumed where the branch was mirrored through).",
		StabilityLevel: metrics.ALPHA,
	}, []string{"read"})
	// Snapshots counts finished snapshots.
	Snapshots = metrics.NewCounterVec(&metrics.CounterOpts{
		Namespace: namespace, Name: "snapshots_total",
		Help:           "Snapshots finished, by result: ok or failed.",
		StabilityLevel: metrics.ALPHA,
	}, []string{"result"})
	// ChangeToPushed is the latency of a live change into Git.
	ChangeToPushed = metrics.NewHistogram(&metrics.HistogramOpts{
		Namespace: namespace, Name: "change_to_pushed_seconds",
		Help:           "Time from a live change's event to its commit pushed (coalesced changes count from the first).",
		Buckets:        metrics.ExponentialBuckets(0.1, 2, 12), // 100 ms .. 200 s
		StabilityLevel: metrics.ALPHA,
	})
	// ChangesIgnored counts live changes ignoreChangesBy left out.
	ChangesIgnored = metrics.NewCounter(&metrics.CounterOpts{
		Namespace: namespace, Name: "changes_ignored_total",
		Help:           "Live changes not committed because every write coalesced into them was by an author the rules' ignoreChangesBy names.",
		StabilityLevel: metrics.ALPHA,
	})
	// Commits counts commits pushed, by kind.
	Commits = metrics.NewCounterVec(&metrics.CounterOpts{
		Namespace: namespace, Name: "commits_total",
		Help:           "Commits pushed, by kind: bootstrap, snapshot, live.",
		StabilityLevel: metrics.ALPHA,
	}, []string{"kind"})
	// Pushes counts pushes, by outcome.
	Pushes = metrics.NewCounterVec(&metrics.CounterOpts{
		Namespace: namespace, Name: "pushes_total",
		Help:           "Pushes, by result: ok, or failed (the change waits and is retried).",
		StabilityLevel: metrics.ALPHA,
	}, []string{"result"})
	// PushRejections counts pushes the remote rejected because the branch
	// moved, replayed on the new tip.
	PushRejections = metrics.NewCounter(&metrics.CounterOpts{
		Namespace: namespace, Name: "push_rejections_total",
		Help:           "Pushes rejected because the branch moved, each replayed on the new tip.",
		StabilityLevel: metrics.ALPHA,
	})
	// PushFailures counts failed pushes by reason.
	PushFailures = metrics.NewCounterVec(&metrics.CounterOpts{
		Namespace: namespace, Name: "push_failures_total",
		Help:           "Failed pushes, by reason: unreachable, credentials, refused (the remote's Git said no), policy, too_large (over --max-fetch-size), other.",
		StabilityLevel: metrics.ALPHA,
	}, []string{"reason"})
	// AttributionReports counts audit batches posted to the attribution
	// endpoint, by result.
	AttributionReports = metrics.NewCounterVec(&metrics.CounterOpts{
		Namespace: namespace, Name: "attribution_batches_total",
		Help:           "Audit event batches posted to the attribution endpoint, by result: accepted, refused (not a configured reporter), invalid.",
		StabilityLevel: metrics.ALPHA,
	}, []string{"result"})
	// AttributionKept counts the reports a replica's store took in, by
	// whether it kept them.
	AttributionKept = metrics.NewCounterVec(&metrics.CounterOpts{
		Namespace: namespace, Name: "attribution_reports_total",
		Help:           "Writes reported to this replica's attribution store (its own batches and the other replicas'), by result: kept (a target streams the type in that namespace), unwanted (none does: the write is in any later snapshot, and its report is kept for a minute only).",
		StabilityLevel: metrics.ALPHA,
	}, []string{"result"})
	// AttributionShared counts reports shared between replicas through etcd:
	// batches written (or failed) by the replica that received them, reports
	// received from the others.
	AttributionShared = metrics.NewCounterVec(&metrics.CounterOpts{
		Namespace: namespace, Name: "attribution_shared_total",
		Help:           "Attribution reports shared between replicas through etcd: written and failed count batches this replica received and wrote, received counts reports taken from the other replicas.",
		StabilityLevel: metrics.ALPHA,
	}, []string{"result"})
	// AttributedChanges counts committed live changes by how their author
	// was found.
	AttributedChanges = metrics.NewCounterVec(&metrics.CounterOpts{
		Namespace: namespace, Name: "attributed_changes_total",
		Help:           "Live changes committed, by how the author was found: reported (kube-apiserver's audit report), field_manager (no report within the grace: the last write's field manager).",
		StabilityLevel: metrics.ALPHA,
	}, []string{"by"})
	// AccessReviews counts the SubjectAccessReviews the tenancy Reviewer
	// issues to review recorded identities (admission's are not counted).
	AccessReviews = metrics.NewCounterVec(&metrics.CounterOpts{
		Namespace: namespace, Name: "access_reviews_total",
		Help:           "SubjectAccessReviews issued to review the users recorded on our objects, by result: allowed, denied, error.",
		StabilityLevel: metrics.ALPHA,
	}, []string{"result"})
)

var register sync.Once

// Register registers the metrics (once per process).
func Register() {
	register.Do(func() {
		legacyregistry.MustRegister(SnapshotDuration, SnapshotObjects, SnapshotTypes, Snapshots, ChangeToPushed, ChangesIgnored, Commits, Pushes, PushRejections, PushFailures,
			AttributionReports, AttributionKept, AttributionShared, AttributedChanges, AccessReviews)
		// Every series of a bounded label set is served from the start, at 0:
		// a rate() or increase() over a series that appears only with its
		// first failure misses that failure, and alerts on it never fire.
		for vec, values := range map[*metrics.CounterVec][]string{
			SnapshotObjects:    {"created", "updated", "deleted", "unchanged", "skipped", "failed"},
			SnapshotTypes:      {"listed", "replayed"},
			Snapshots:          {"ok", "failed"},
			Commits:            {"bootstrap", "snapshot", "live"},
			Pushes:             {"ok", "failed"},
			PushFailures:       {"unreachable", "credentials", "refused", "policy", "too_large", "other"},
			AttributionReports: {"accepted", "refused", "invalid"},
			AttributionKept:    {"kept", "unwanted"},
			AttributionShared:  {"written", "failed", "received"},
			AttributedChanges:  {"reported", "field_manager"},
			AccessReviews:      {"allowed", "denied", "error"},
		} {
			for _, v := range values {
				vec.WithLabelValues(v)
			}
		}
	})
}

// State is what the lifecycle knows at scrape time.
type State struct {
	// Targets counts targets by gate (and Ready), status and reason.
	Targets map[[3]string]int
	// Pending is the number of live changes waiting in the branch workers;
	// Oldest the age of the oldest.
	Pending int
	Oldest  time.Duration
	// Workers is the number of branch workers; Leases the branch leases this
	// replica owns.
	Workers, Leases int
	Replica         string
}

// collector reads State at scrape time.
type collector struct {
	metrics.BaseStableCollector
	state func() State
}

var (
	targetsDesc = metrics.NewDesc(namespace+"_targets", "GitTargets by gate (and Ready), status and reason.",
		[]string{"gate", "status", "reason"}, nil, metrics.ALPHA, "")
	pendingDesc = metrics.NewDesc(namespace+"_pending_changes", "Live changes waiting in the branch workers to be pushed.",
		nil, nil, metrics.ALPHA, "")
	oldestDesc = metrics.NewDesc(namespace+"_oldest_pending_change_seconds", "Age of the oldest live change waiting to be pushed (0 when none waits).",
		nil, nil, metrics.ALPHA, "")
	workersDesc = metrics.NewDesc(namespace+"_branch_workers", "Branch workers running in this replica.",
		nil, nil, metrics.ALPHA, "")
	leasesDesc = metrics.NewDesc(namespace+"_branch_leases", "Branch leases this replica owns.",
		[]string{"replica"}, nil, metrics.ALPHA, "")
)

func (c *collector) DescribeWithStability(ch chan<- *metrics.Desc) {
	for _, d := range []*metrics.Desc{targetsDesc, pendingDesc, oldestDesc, workersDesc, leasesDesc} {
		ch <- d
	}
}

func (c *collector) CollectWithStability(ch chan<- metrics.Metric) {
	s := c.state()
	for k, n := range s.Targets {
		ch <- metrics.NewLazyConstMetric(targetsDesc, metrics.GaugeValue, float64(n), k[0], k[1], k[2])
	}
	ch <- metrics.NewLazyConstMetric(pendingDesc, metrics.GaugeValue, float64(s.Pending))
	ch <- metrics.NewLazyConstMetric(oldestDesc, metrics.GaugeValue, s.Oldest.Seconds())
	ch <- metrics.NewLazyConstMetric(workersDesc, metrics.GaugeValue, float64(s.Workers))
	ch <- metrics.NewLazyConstMetric(leasesDesc, metrics.GaugeValue, float64(s.Leases), s.Replica)
}

var collect struct {
	sync.Mutex
	registered bool
	state      func() State
}

// Observe registers the scrape-time collector over state (the latest call
// wins: a lifecycle restarted in the same process reports itself).
func Observe(state func() State) {
	Register()
	collect.Lock()
	defer collect.Unlock()
	collect.state = state
	if !collect.registered {
		collect.registered = true
		legacyregistry.CustomMustRegister(&collector{state: func() State {
			collect.Lock()
			f := collect.state
			collect.Unlock()
			return f()
		}})
	}
}
