package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/yaml"
)

// sent is one update: its sequence number and when it was sent.
type sent struct {
	seq int
	at  time.Time
}

// streamTracker matches pushed commits to the updates they carry: a file whose
// "seq" is s covers every update of that object up to s (coalescing: the
// latest state wins).
type streamTracker struct {
	mu          sync.Mutex
	outstanding map[int][]sent // object index -> updates not yet seen in Git
	latencies   []time.Duration
	samples     []sample
	pushedSeq   map[int]int
}

// sample is one update's send time and latency, for the CSV.
type sample struct {
	at      time.Time
	latency time.Duration
}

func (t *streamTracker) sent(obj int, s sent) {
	t.mu.Lock()
	t.outstanding[obj] = append(t.outstanding[obj], s)
	t.mu.Unlock()
}

func (t *streamTracker) pushed(obj, seq int, at time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if seq > t.pushedSeq[obj] {
		t.pushedSeq[obj] = seq
	}
	q := t.outstanding[obj]
	i := 0
	for ; i < len(q) && q[i].seq <= seq; i++ {
		t.latencies = append(t.latencies, at.Sub(q[i].at))
		t.samples = append(t.samples, sample{q[i].at, at.Sub(q[i].at)})
	}
	t.outstanding[obj] = q[i:]
}

func (t *streamTracker) pending() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for _, q := range t.outstanding {
		n += len(q)
	}
	return n
}

// streamRun is what one stream run measured.
type streamRun struct {
	p50, p99, writeP50, writeP99 time.Duration
	rate                         float64
}

// streamPhase: a sustained rate of ConfigMap updates for a while; the
// achieved rate, for every update the time from sending it to a pushed
// commit holding it (or a later state of the same object), observed by
// polling the bare repository every 50 ms, and how long the write itself took
// as the client saw it. variant names the attribution setup ("" for the
// stack's: kube-apiserver's audit webhook reporting to our server).
type streamPhase struct {
	*env
	variant string
	tr      *streamTracker

	// What the load did.
	start        time.Time
	elapsed      time.Duration
	done, failed atomic.Int64
	writes       durations
}

// benchStream runs the stream phase.
func (e *env) benchStream(ctx context.Context, variant string) error {
	return (&streamPhase{env: e, variant: variant, tr: &streamTracker{outstanding: map[int][]sent{}, pushedSeq: map[int]int{}}}).run(ctx)
}

func (p *streamPhase) run(ctx context.Context) error {
	if err := p.waitTargetReady(ctx, 5*time.Minute); err != nil {
		return err
	}
	bare := p.st.Git.RepoPath(snapRepo)
	tip := strings.TrimSpace(gitOut(bare, "rev-parse", "refs/heads/main"))
	commitsBefore := countCommits(bare)

	stopObs := p.tr.observing(ctx, bare, tip, snapConfigMapIndex)

	file := "stream"
	if p.variant != "" {
		file += "-" + strings.ReplaceAll(p.variant, " ", "-")
	}
	// Attribution's counters, from one read of /metrics: reports kept,
	// reports no target streamed, changes committed with their reported
	// author.
	attribution := func() (kept, unwanted, reported float64) {
		e, _ := p.probe.exposition(ctx)
		return sumSeries(e, "gitopsreverser_attribution_reports_total", []string{`result="kept"`}),
			sumSeries(e, "gitopsreverser_attribution_reports_total", []string{`result="unwanted"`}),
			sumSeries(e, "gitopsreverser_attributed_changes_total", []string{`by="reported"`})
	}
	kept0, unwanted0, reported0 := attribution()
	p.load(ctx, file)
	_, peak := rssKB(p.st.Server.Pid())
	p.probe.heapProfile(ctx, file)

	stopObs()
	kept, unwanted, reported := attribution()
	p.res.note("%s: attribution reports kept %.0f, not kept (no target streams them) %.0f; changes committed with their reported author %.0f",
		file, kept-kept0, unwanted-unwanted0, reported-reported0)
	lost := p.tr.pending()
	commits := countCommits(bare) - commitsBefore
	p.writeCSV(file)
	p.report(peak, lost, commits)
	if lost > 0 {
		return fmt.Errorf("stream: %d updates never reached Git", lost)
	}
	return nil
}

// load sends the updates: update k goes out at start + k/rate, from a pool
// of clients, while a CPU profile of our server named file is recorded. The
// sequence number is global, so it orders every update of an object.
func (p *streamPhase) load(ctx context.Context, file string) {
	n := p.opts.objects
	// What the phases before it left, then the peak of this load alone.
	p.probe.memNote(ctx, file+", before the load")
	resetPeakRSS(p.st.Server.Pid())
	p.start = time.Now()
	prof := p.probe.startCPUProfile(file, 20)
	paced(p.start, p.opts.rate, p.opts.duration, 48, func(k int) {
		obj := (k - 1) % n
		patch := fmt.Sprintf(`{"data":{"seq":"%d"}}`, k)
		s := sent{seq: k, at: time.Now()}
		p.tr.sent(obj, s)
		if _, err := p.kube.CoreV1().ConfigMaps(snapNamespace).Patch(ctx, cmName(obj), types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
			p.failed.Add(1)
			fmt.Fprintf(os.Stderr, "[bench] update %d: %v\n", k, err)
			return
		}
		p.writes.add(time.Since(s.at))
		p.done.Add(1)
	})
	p.elapsed = time.Since(p.start)
	prof()
}

// writeCSV writes every measured update's send time and latency into
// <out>/<file>-latency.csv.
func (p *streamPhase) writeCSV(file string) {
	var csv strings.Builder
	csv.WriteString("sent_s,latency_s\n")
	for _, s := range p.tr.samples {
		fmt.Fprintf(&csv, "%.3f,%.3f\n", s.at.Sub(p.start).Seconds(), s.latency.Seconds())
	}
	_ = os.WriteFile(filepath.Join(p.opts.out, file+"-latency.csv"), []byte(csv.String()), 0o644)
}

// report records the run's figures, and, for a variant, the stack's run
// against it.
func (p *streamPhase) report(peak int64, lost, commits int) {
	rate, variant, tr := p.opts.rate, p.variant, p.tr
	achieved := float64(p.done.Load()) / p.elapsed.Seconds()
	name := "stream"
	if variant != "" {
		name = "stream (" + variant + ")"
	}
	run := streamRun{p50: percentile(tr.latencies, 50), p99: percentile(tr.latencies, 99),
		writeP50: percentile(p.writes.all(), 50), writeP99: percentile(p.writes.all(), 99), rate: achieved}
	p.res.add(figure{Name: fmt.Sprintf("%s: achieved update rate (target %d/s for %s)", name, rate, p.opts.duration), Unit: "updates/s", Ours: achieved}, 0, 0)
	if achieved < float64(rate)*0.95 {
		p.res.note("%s: the load reached %.0f of %d updates/s (%d updates, %d failed); the source cluster or the load generator is the limit on this machine", name, achieved, rate, p.done.Load(), p.failed.Load())
	}
	interval := 5.0 // the GitProvider's push.interval: the default
	p.res.add(figure{Name: name + ": change -> pushed p50", Unit: "s", Ours: run.p50.Seconds()}, 0, 0)
	p.res.add(figure{Name: name + ": change -> pushed p99", Unit: "s", Ours: run.p99.Seconds()}, 0, interval+1)
	p.res.add(figure{Name: name + ": write latency p50 (client)", Unit: "ms", Ours: float64(run.writeP50.Microseconds()) / 1000}, 0, 0)
	p.res.add(figure{Name: name + ": write latency p99 (client)", Unit: "ms", Ours: float64(run.writeP99.Microseconds()) / 1000}, 0, 0)
	p.res.add(figure{Name: name + ": updates not in Git 60 s after the load", Unit: "updates", Ours: float64(lost)}, 0, 0)
	p.res.add(figure{Name: name + ": peak RSS", Unit: "MiB", Ours: float64(peak) / 1024}, 0, 150)
	p.res.note("%s: %d updates (%d failed) in %s -> %d commits; latency measured for %d updates (observer polls every 50 ms)",
		name, p.done.Load(), p.failed.Load(), p.elapsed.Round(time.Millisecond), commits, len(tr.latencies))
	if p.streams == nil {
		p.streams = map[string]streamRun{}
	}
	p.streams[variant] = run
	if on, ok := p.streams[""]; ok && variant != "" {
		p.res.add(figure{Name: fmt.Sprintf("stream p99, attribution on vs %s", variant), Unit: "s", Ours: on.p99.Seconds(),
			Baseline: run.p99.Seconds(), BaselineName: variant}, 0, 0)
		p.res.add(figure{Name: fmt.Sprintf("write p99, attribution on vs %s", variant), Unit: "ms", Ours: float64(on.writeP99.Microseconds()) / 1000,
			Baseline: float64(run.writeP99.Microseconds()) / 1000, BaselineName: variant}, 0, 0)
	}
}

// durations collects durations from many goroutines.
type durations struct {
	mu sync.Mutex
	d  []time.Duration
}

func (d *durations) add(x time.Duration) {
	d.mu.Lock()
	d.d = append(d.d, x)
	d.mu.Unlock()
}

func (d *durations) all() []time.Duration {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]time.Duration(nil), d.d...)
}

// observing runs observe until the returned stop is called; stop first waits
// (up to a minute: a batch window and more) for every update sent to be seen
// in Git.
func (tr *streamTracker) observing(ctx context.Context, bare, tip string, objectOf func(path string) (int, bool)) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		tr.observe(ctx, bare, tip, objectOf)
	}()
	return func() {
		deadline := time.Now().Add(60 * time.Second)
		for tr.pending() > 0 && time.Now().Before(deadline) {
			time.Sleep(100 * time.Millisecond)
		}
		cancel()
		<-done
	}
}

// observe polls the bare repository's main branch; for every new commit it
// reads the ConfigMap files the commit changed and records their seq.
func (tr *streamTracker) observe(ctx context.Context, bare, tip string, objectOf func(path string) (int, bool)) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(50 * time.Millisecond):
		}
		now := strings.TrimSpace(gitOut(bare, "rev-parse", "refs/heads/main"))
		if now == "" || now == tip {
			continue
		}
		seen := time.Now()
		// Every file changed between the old and new tip, at its new state.
		objs := map[string]int{} // blob -> object index
		for _, line := range strings.Split(gitOut(bare, "diff-tree", "-r", "--no-commit-id", tip, now), "\n") {
			// :100644 100644 <old> <new> M\t<path>
			f := strings.Fields(line)
			if len(f) < 6 || f[4] == "D" {
				continue
			}
			if obj, ok := objectOf(f[5]); ok {
				objs[f[3]] = obj
			}
		}
		blobs, err := catBlobs(bare, objs)
		if err != nil {
			fmt.Fprintf(os.Stderr, "[bench] reading pushed blobs: %v\n", err)
		}
		for h, b := range blobs {
			var cm struct {
				Data map[string]string `json:"data"`
			}
			if err := yaml.Unmarshal(b, &cm); err != nil {
				continue
			}
			if s, err := strconv.Atoi(cm.Data["seq"]); err == nil {
				tr.pushed(objs[h], s, seen)
			}
		}
		tip = now
	}
}

// snapConfigMapIndex is the object index of a snapshot phase ConfigMap's
// file path.
func snapConfigMapIndex(path string) (int, bool) {
	name, ok := strings.CutPrefix(path, fmt.Sprintf("%s/v1/configmaps/%s/", snapPath, snapNamespace))
	if !ok {
		return 0, false
	}
	i, err := strconv.Atoi(strings.TrimPrefix(strings.TrimSuffix(name, ".yaml"), "cm-"))
	return i, err == nil
}

// catBlobs reads blobs with one `git cat-file --batch`.
func catBlobs(bare string, hashes map[string]int) (map[string][]byte, error) {
	var in bytes.Buffer
	for h := range hashes {
		in.WriteString(h + "\n")
	}
	cmd := exec.Command("git", "--git-dir="+bare, "cat-file", "--batch")
	cmd.Stdin = &in
	out, err := cmd.Output()
	if err != nil {
		return nil, err
	}
	res := map[string][]byte{}
	r := bufio.NewReader(bytes.NewReader(out))
	for {
		hdr, err := r.ReadString('\n')
		if err != nil {
			return res, nil
		}
		f := strings.Fields(hdr) // <hash> blob <size>
		if len(f) != 3 {
			continue
		}
		size, _ := strconv.Atoi(f[2])
		b := make([]byte, size+1) // content and a newline
		if _, err := io.ReadFull(r, b); err != nil {
			return res, err
		}
		res[f[0]] = b[:size]
	}
}
