// Command bench measures gitops-reverser against its baselines, in one run, on
// this machine (`make bench`):
//
//  1. API: 1,000 GitTargets, GET p50/p99, LIST of all, watch latency, straight to
//     our server and through kube-apiserver, against the same schema served as a
//     CustomResourceDefinition (status subresource, same printer columns) by the
//     same kube-apiserver on the same etcd.
//  2. Snapshot: 10,000 ConfigMaps of 1 KiB -> SnapshotSynced with the commit
//     pushed, against `git add -A && git commit && git push` of the same rendered
//     files to the same kind of remote; then a re-snapshot with 100 changed.
//     Growth: the same at 3,000 and 30,000 ConfigMaps (-growth-sizes): peak
//     RSS per mirrored object and the re-snapshot at each size.
//  3. Stream: a sustained update rate for 60 s: achieved rate and change ->
//     pushed latency.
//  4. Memory: peak RSS of our server in (2), and with 1,000 targets idle.
//  5. Tenancy: 1,000 WatchRules created by a tenant, each authorized for what
//     it selects, against the same by a cluster administrator.
//  6. Reviews: the SubjectAccessReviews our server issues to re-review 100
//     recorded users when 100 ServiceAccounts or RoleBindings are created in
//     a loop.
//  7. Filter: what selectors, exclusions, derived filtering and field
//     cleaning cost per live event, against a rule without them.
//  8. History: one object's revisions listed through kube-apiserver in a
//     branch of 10,000 files after 10,000 and 20,000 commits, against `git
//     log -- <file>`.
//  9. Restore: a namespace of 1,000 ConfigMaps brought back by a GitRestore,
//     against `kubectl apply --server-side` of the same files.
//
// It prints a table (figure, ours, baseline, ratio) and writes JSON and pprof
// profiles under .bench/. It never runs in `make test`.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/configbutler/gitops-reverser/test/stack"
)

type options struct {
	out      string
	targets  int
	objects  int
	changed  int
	rate     int
	duration time.Duration
	phases   string
	keep     bool
	memLimit string
	gogc     string
	args     string // extra flags of our server
	growth   []int
	// The scale phase's size and its stream.
	scaleObjects, scaleNamespaces, scaleRate int
	scaleDuration                            time.Duration
}

func main() {
	o := options{growth: []int{3000, 30000}}
	flag.StringVar(&o.out, "out", ".bench", "directory for the JSON results and profiles")
	flag.IntVar(&o.targets, "targets", 1000, "GitTargets (and CRD objects) for the API figures")
	flag.IntVar(&o.objects, "objects", 10000, "ConfigMaps for the snapshot figures")
	flag.IntVar(&o.changed, "changed", 100, "ConfigMaps changed before the re-snapshot")
	flag.IntVar(&o.rate, "rate", 1000, "updates per second for the stream figures")
	flag.DurationVar(&o.duration, "duration", 60*time.Second, "how long the stream runs")
	flag.Func("growth-sizes", "ConfigMap counts of the growth phase (default 3000,30000)", func(v string) error {
		o.growth = nil
		for _, f := range strings.Split(v, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n < 100 {
				return fmt.Errorf("bad size %q", f)
			}
			o.growth = append(o.growth, n)
		}
		return nil
	})
	flag.IntVar(&o.scaleObjects, "scale-objects", 100000, "objects of the scale phase (ConfigMaps, Secrets, Deployments, Services)")
	flag.IntVar(&o.scaleNamespaces, "scale-namespaces", 1000, "namespaces the scale phase spreads them over")
	flag.IntVar(&o.scaleRate, "scale-rate", 100, "updates per second of the scale phase's stream")
	flag.DurationVar(&o.scaleDuration, "scale-duration", 30*time.Second, "how long the scale phase's stream runs")
	flag.StringVar(&o.phases, "phases", "api,tenancy,reviews,filter,history,restore,snapshot,growth,stream,stream-off,stream-admission,scale", "which phases to run (stream-off and stream-admission restart kube-apiserver and our server without attribution)")
	flag.StringVar(&o.memLimit, "server-gomemlimit", "", "GOMEMLIMIT for our server (as artifacts/deploy sets it from the memory limit); empty: none")
	flag.StringVar(&o.gogc, "server-gogc", "", "GOGC for our server (the collector's heap growth, percent); empty: the server's default, 25 (pkg/idlememory)")
	flag.StringVar(&o.args, "server-args", "", "extra flags for our server, separated by spaces (-server-args=-v=2 logs each Replay's cut)")
	flag.BoolVar(&o.keep, "keep", false, "keep the stack's directory (logs of every process) and print where it is")
	flag.Parse()
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(o options) error {
	root, _ := os.Getwd()
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "gitops-reverser-bench-")
	if err != nil {
		return err
	}
	if o.keep {
		fmt.Fprintf(os.Stderr, "[bench] stack directory (kept): %s\n", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	ctx := context.Background()
	// Without kube-controller-manager: figures stay comparable with the runs
	// before it joined the stack (and its controllers would share the 2 cores).
	sopts := stack.Options{Dir: dir, RepoRoot: root, FastEtcd: true, Progress: os.Stderr, NoControllerManager: true,
		ServerArgs: strings.Fields(o.args)}
	if o.memLimit != "" {
		sopts.ServerEnv = append(sopts.ServerEnv, "GOMEMLIMIT="+o.memLimit)
	}
	if o.gogc != "" {
		sopts.ServerEnv = append(sopts.ServerEnv, "GOGC="+o.gogc)
	}
	st, err := stack.Start(ctx, sopts)
	if err != nil {
		return err
	}
	defer st.Stop()
	if err := st.WaitAPIServiceAvailable(ctx); err != nil {
		return err
	}
	e, err := newEnv(o, st)
	if err != nil {
		return err
	}

	for _, phase := range strings.Split(o.phases, ",") {
		start := time.Now()
		fmt.Fprintf(os.Stderr, "[bench] phase %s\n", phase)
		var err error
		switch phase {
		case "api":
			err = e.benchAPI(ctx)
		case "tenancy":
			err = e.benchTenancy(ctx)
		case "reviews":
			err = e.benchReviews(ctx)
		case "filter":
			err = e.benchFilter(ctx)
		case "history":
			err = e.benchHistory(ctx)
		case "restore":
			err = e.benchRestore(ctx)
		case "snapshot":
			err = e.benchSnapshot(ctx)
		case "growth":
			err = e.benchGrowth(ctx)
		case "stream":
			// On a server started for it, as the variants are: its peak is
			// the stream's, not what the phases before it (a 30,000-object
			// snapshot) left in the process's heap.
			if err = e.restartServerWith(ctx); err == nil {
				err = e.benchStream(ctx, "")
			}
		case "stream-off":
			err = e.benchStreamWithoutAttribution(ctx)
		case "stream-admission":
			err = e.benchStreamWithAdmissionWebhook(ctx)
		case "scale":
			err = e.benchScale(ctx)
		default:
			err = fmt.Errorf("unknown phase %q", phase)
		}
		if err != nil {
			return fmt.Errorf("phase %s: %w", phase, err)
		}
		fmt.Fprintf(os.Stderr, "[bench] phase %s done in %s\n", phase, time.Since(start).Round(time.Second))
	}

	e.res.Machine = machine()
	e.res.Command = "make bench"
	for _, env := range sopts.ServerEnv {
		e.res.note("our server ran with %s", env)
	}
	e.res.Date = time.Now().UTC().Format(time.RFC3339)
	e.res.print(os.Stdout)
	file, err := e.res.save(o.out)
	if err != nil {
		return err
	}
	fmt.Printf("\nresults: %s (profiles in %s)\n", file, o.out)
	return nil
}

func machine() string {
	cpu := "unknown cpu"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "model name") {
				cpu = strings.TrimSpace(strings.SplitN(l, ":", 2)[1])
				break
			}
		}
	}
	mem := ""
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		mem = strings.Fields(strings.Split(string(b), "\n")[0])[1] + " kB RAM"
	}
	return fmt.Sprintf("%d cpus (%s), %s, %s/%s, %s", runtime.NumCPU(), cpu, mem, runtime.GOOS, runtime.GOARCH, runtime.Version())
}
