package idlememory

import (
	"os"
	"runtime/debug"

	"k8s.io/klog/v2"
)

// DefaultGCPercent is the server's GOGC when the environment sets none: the
// heap may grow a quarter past what is live before the collector runs, where
// Go's own default lets it double.
//
// Why 25 (make bench, docs/benchmarks.md, "sixth round"): a mirror's live
// heap is small (some 45 MB for 1,000 targets or a 10,000-object stream) and
// most of what the server holds at 100 is the collector's headroom and the
// fragmentation it leaves. At 25, 1,000 idle targets took 139-151 MiB instead
// of 169-175, the stream of 60,001 updates peaked at 140-156 instead of
// 172-210, and a snapshot of 100,000 objects at 257-292 instead of 353-413
// (the chart's limit is 512Mi). It costs about 30% more of the server's CPU
// under a heavy stream, and at 100,000 objects a snapshot and a re-snapshot
// about 1.5 times as long. A memory limit is what an install runs out of;
// the CPU shows as latency, and the stream's figures still meet their goals.
// GOGC=100 gives Go's default back.
const DefaultGCPercent = 25

// GCPercent decides the collector's setting from the GOGC environment
// variable (env, and whether it is set at all): when it is set (even to
// "off"), Go's runtime has already applied it and it stays (apply false);
// when it is unset or empty, the server applies DefaultGCPercent.
func GCPercent(env string, set bool) (percent int, apply bool) {
	if set && env != "" {
		return 0, false
	}
	return DefaultGCPercent, true
}

// ApplyGCPercent sets this process's collector as GCPercent decides from its
// environment.
func ApplyGCPercent() {
	env, set := os.LookupEnv("GOGC")
	if percent, apply := GCPercent(env, set); apply {
		debug.SetGCPercent(percent)
		klog.V(2).InfoS("Garbage collector set", "GOGC", percent)
	}
}
