package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"k8s.io/client-go/rest"

	"github.com/configbutler/gitops-reverser/test/stack"
)

// serverProbe watches our server's process for the figures: CPU and heap
// profiles (written into out), how busy it is, what its resident memory is
// made of, and its /metrics. What it cannot read it notes in res.
type serverProbe struct {
	st     *stack.Stack
	direct *rest.Config // our server, straight
	out    string
	res    *results
}

// startCPUProfile records a CPU profile of our server for secs seconds into
// <out>/<name>.pprof; the returned function waits for it. Best effort: a
// failure is noted, not fatal.
func (p *serverProbe) startCPUProfile(name string, secs int) func() {
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		b, err := rawClient(p.direct).Get().AbsPath("/debug/pprof/profile").Param("seconds", fmt.Sprint(secs)).
			Timeout(time.Duration(secs+60) * time.Second).DoRaw(context.Background())
		if err != nil {
			p.res.note("profile %s: %v", name, err)
			return
		}
		_ = os.WriteFile(filepath.Join(p.out, name+".pprof"), b, 0o644)
	}()
	return func() { <-stopped }
}

// heapProfile saves our server's heap profile into <out>/<name>.heap.pprof.
func (p *serverProbe) heapProfile(ctx context.Context, name string) {
	b, err := rawClient(p.direct).Get().AbsPath("/debug/pprof/heap").DoRaw(ctx)
	if err != nil {
		p.res.note("heap profile %s: %v", name, err)
		return
	}
	_ = os.WriteFile(filepath.Join(p.out, name+".heap.pprof"), b, 0o644)
}

// waitIdle waits (at most a minute) until our server uses less than 5% of a
// core over a second.
func (p *serverProbe) waitIdle(ctx context.Context) {
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		before := cpuTicks(p.st.Server.Pid())
		time.Sleep(time.Second)
		if used := cpuTicks(p.st.Server.Pid()) - before; used < 5 { // clock ticks are 1/100 s
			return
		}
	}
	p.res.note("our server was still busy after a minute when the API measurements began")
}

// cpuTicks is a process's user+system CPU time in clock ticks.
func cpuTicks(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The fields after the command name (which may hold spaces) in parentheses.
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	s, _ := strconv.ParseInt(f[12], 10, 64)
	return u + s
}

// memNote notes what our server's resident memory is made of: mapped files
// (the binary) and anonymous memory from /proc, and the Go runtime's view of
// its heap from /metrics (in use, the GC's next goal and GOGC, held but idle,
// given back). It is what the RSS rows are explained with.
func (p *serverProbe) memNote(ctx context.Context, what string) {
	st := procStatus(p.st.Server.Pid())
	anon, file := st["RssAnon"], st["RssFile"]
	b, err := rawClient(p.direct).Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		p.res.note("memory, %s: /metrics: %v", what, err)
		return
	}
	stat := map[string]float64{}
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) == 2 && strings.HasPrefix(f[0], "go_memstats_") {
			stat[strings.TrimPrefix(f[0], "go_memstats_")], _ = strconv.ParseFloat(f[1], 64)
		}
		if len(f) == 2 && f[0] == "go_gc_gogc_percent" {
			stat["gogc"], _ = strconv.ParseFloat(f[1], 64)
		}
	}
	mib := func(v float64) float64 { return v / (1 << 20) }
	p.res.note("memory, %s: RSS %.0f MiB anonymous + %.0f MiB files (the binary: %s); Go heap in use %.0f MiB, next GC at %.0f MiB (GOGC %.0f), idle %.0f MiB of which %.0f returned to the OS; stacks %.0f MiB; runtime total %.0f MiB",
		what, float64(anon)/1024, float64(file)/1024, binaryPages(p.st.Server.Pid()), mib(stat["heap_inuse_bytes"]), mib(stat["next_gc_bytes"]), stat["gogc"],
		mib(stat["heap_idle_bytes"]), mib(stat["heap_released_bytes"]), mib(stat["stack_inuse_bytes"]), mib(stat["sys_bytes"]))
}

// metricSum is the sum of every series of a counter (or a histogram's _sum or
// _count) on our server's /metrics whose labels contain each of labels
// (`resource="gittargets"`); -1 when it cannot be read.
func (p *serverProbe) metricSum(ctx context.Context, name string, labels ...string) float64 {
	e, err := p.exposition(ctx)
	if err != nil {
		return -1
	}
	return sumSeries(e, name, labels)
}

// exposition is our server's /metrics, read once for several sums.
func (p *serverProbe) exposition(ctx context.Context) (string, error) {
	b, err := rawClient(p.direct).Get().AbsPath("/metrics").DoRaw(ctx)
	return string(b), err
}

// sumSeries sums the series of name in a Prometheus text exposition whose
// label set contains every one of labels.
func sumSeries(exposition, name string, labels []string) float64 {
	var sum float64
next:
	for _, l := range strings.Split(exposition, "\n") {
		f := strings.Fields(l)
		if len(f) != 2 || (f[0] != name && !strings.HasPrefix(f[0], name+"{")) {
			continue
		}
		for _, want := range labels {
			if !strings.Contains(f[0], want) {
				continue next
			}
		}
		v, _ := strconv.ParseFloat(f[1], 64)
		sum += v
	}
	return sum
}

// binaryPages says how much of the process's executable is resident, by
// mapping: code (r-x), read-only data and the function tables (r--), and
// initialised data (rw-), from /proc/<pid>/smaps.
func binaryPages(pid int) string {
	exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
	if err != nil {
		return "unknown"
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps", pid))
	if err != nil {
		return "unknown"
	}
	var parts []string
	perms := ""
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		switch {
		case len(f) >= 6 && strings.Contains(f[0], "-") && f[5] == exe:
			perms = f[1][:3]
		case len(f) >= 2 && strings.Contains(f[0], "-") && !strings.HasSuffix(f[0], ":"):
			perms = "" // another mapping
		case perms != "" && len(f) == 3 && f[0] == "Rss:":
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			parts = append(parts, fmt.Sprintf("%s %.0f MiB", perms, float64(kb)/1024))
		}
	}
	return strings.Join(parts, ", ")
}
