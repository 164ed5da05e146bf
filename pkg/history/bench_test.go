package history

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/configbutler/gitops-reverser/pkg/git"
	"github.com/configbutler/gitops-reverser/test/gitcli"
)

// benchFiles is the number of files of the benchmark's branch: 100
// namespaces of 100 ConfigMaps.
const benchFiles = 10_000

// benchWide puts all files in one directory (one namespace of 10,000
// ConfigMaps): every commit changes a tree of 10,000 entries.
var benchWide = false

func benchPath(i int) string {
	if benchWide {
		return fmt.Sprintf("clusters/prod/v1/configmaps/ns-00/cm-%04d.yaml", i)
	}
	return fmt.Sprintf("clusters/prod/v1/configmaps/ns-%02d/cm-%04d.yaml", i/100, i)
}

func benchContent(i, rev int) string {
	return fmt.Sprintf("apiVersion: v1\ndata:\n  key: value-%d\n  revision: \"%d\"\nkind: ConfigMap\nmetadata:\n  labels:\n    app: bench\n  name: cm-%04d\n  namespace: ns-%02d\n", i, rev, i, i/100)
}

// writeFastImport writes a fast-import stream: one commit creating
// benchFiles files, then commits-1 commits updating one file each.
func writeFastImport(w *bufio.Writer, commits int) {
	inline := func(path, content string) {
		fmt.Fprintf(w, "M 100644 inline %s\ndata %d\n%s\n", path, len(content), content)
	}
	commit := func(n int, user string) {
		msg := fmt.Sprintf("%s changed things\n\nKubernetes-User: %s\nKubernetes-Verb: update\nReplica: r1\n", user, user)
		when := 1_700_000_000 + n
		fmt.Fprintf(w, "commit refs/heads/main\nauthor %s <%s@kubernetes.invalid> %d +0000\ncommitter gitops-reverser <gr@localhost> %d +0000\ndata %d\n%s",
			user, user, when, when, len(msg), msg)
	}
	commit(0, "snapshot")
	for i := range benchFiles {
		inline(benchPath(i), benchContent(i, 0))
	}
	for n := 1; n < commits; n++ {
		commit(n, fmt.Sprintf("user%d", n%7))
		i := (n * 7919) % benchFiles
		inline(benchPath(i), benchContent(i, n))
	}
	w.WriteString("done\n")
}

// benchRepo builds the upstream with git fast-import and clones it with
// git.Open.
func benchRepo(b *testing.B, commits int) *git.Repo {
	b.Helper()
	up := filepath.Join(b.TempDir(), "upstream.git")
	gitcli.Run(b, filepath.Dir(up), nil, "init", "-q", "--bare", "-b", "main", up)
	cmd := exec.Command("git", "fast-import", "--quiet", "--done")
	cmd.Dir, cmd.Env = up, gitcli.Env(up)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriterSize(stdin, 1<<20)
	writeFastImport(w, commits)
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	_ = stdin.Close()
	if err := cmd.Wait(); err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	repo, err := git.Open(context.Background(), git.Options{URL: "file://" + up, Branch: "main", Dir: filepath.Join(b.TempDir(), "clone")})
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("%d commits: cloned in %v", commits, time.Since(start).Round(time.Millisecond))
	b.Cleanup(func() { _ = repo.Close() })
	return repo
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// samplePeakHeap samples the heap every 5 ms until the returned function is
// called, which returns the highest sample.
func samplePeakHeap() func() uint64 {
	stop, done := make(chan struct{}), make(chan uint64)
	go func() {
		var peak uint64
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			peak = max(peak, m.HeapAlloc)
			select {
			case <-stop:
				done <- peak
				return
			case <-t.C:
			}
		}
	}()
	return func() uint64 {
		close(stop)
		return <-done
	}
}

// percentiles times fn over the given inputs and returns p50 and p99.
func percentiles(n int, fn func(i int)) (p50, p99 time.Duration) {
	d := make([]time.Duration, n)
	for i := range n {
		start := time.Now()
		fn(i)
		d[i] = time.Since(start)
	}
	slices.Sort(d)
	return d[n/2], d[n*99/100]
}

// BenchmarkHistoryWideDirectory: building the index of 10,000 commits each
// changing one file of a directory of 10,000 (the trees compared per commit
// are 450 KiB each).
func BenchmarkHistoryWideDirectory(b *testing.B) {
	benchWide = true
	defer func() { benchWide = false }()
	repo := benchRepo(b, 10_000)
	for b.Loop() {
		start, cpu := time.Now(), cpuTime()
		w := git.OpenObjectReader(repo.Dir(), DefaultWalkCache)
		idx := NewIndex()
		if _, err := idx.Update(context.Background(), w, repo.Head()); err != nil {
			b.Fatal(err)
		}
		_ = w.Close()
		b.ReportMetric(float64(time.Since(start).Milliseconds()), "wall-ms")
		b.ReportMetric(float64((cpuTime() - cpu).Milliseconds()), "cpu-ms")
		b.ReportMetric(float64(idx.Stats().Entries), "entries")
	}
}

// BenchmarkHistory: building the index of a branch of 10,000 files with
// 10,000 and 20,000 commits, saving and loading it, and queries.
func BenchmarkHistory(b *testing.B) {
	for _, commits := range []int{10_000, 20_000} {
		b.Run(fmt.Sprintf("commits=%d", commits), func(b *testing.B) {
			repo := benchRepo(b, commits)
			var idx *Index
			b.Run("build", func(b *testing.B) {
				for b.Loop() {
					idx = nil
					before := heapInUse()
					peak := samplePeakHeap()
					start, cpu := time.Now(), cpuTime()
					w := git.OpenObjectReader(repo.Dir(), DefaultWalkCache)
					idx = NewIndex()
					if _, err := idx.Update(context.Background(), w, repo.Head()); err != nil {
						b.Fatal(err)
					}
					_ = w.Close()
					b.ReportMetric(float64(peak()-before)/(1<<20), "peak-heap-MiB")
					b.ReportMetric(float64(time.Since(start).Milliseconds()), "wall-ms")
					b.ReportMetric(float64((cpuTime() - cpu).Milliseconds()), "cpu-ms")
					heap := heapInUse() - before
					st := idx.Stats()
					b.ReportMetric(float64(heap)/(1<<20), "index-MiB")
					b.ReportMetric(float64(heap)/float64(st.Entries), "B/entry")
					b.ReportMetric(float64(st.Entries), "entries")
				}
			})
			file := filepath.Join(b.TempDir(), IndexFile)
			b.Run("save", func(b *testing.B) {
				for b.Loop() {
					if err := idx.Save(file); err != nil {
						b.Fatal(err)
					}
				}
				fi, _ := os.Stat(file)
				b.ReportMetric(float64(fi.Size())/(1<<20), "file-MiB")
			})
			b.Run("load", func(b *testing.B) {
				for b.Loop() {
					before := heapInUse()
					start := time.Now()
					loaded, err := LoadIndex(file)
					if err != nil {
						b.Fatal(err)
					}
					b.ReportMetric(float64(time.Since(start).Microseconds())/1e3, "load-ms")
					heap := heapInUse() - before
					b.ReportMetric(float64(heap)/(1<<20), "index-MiB")
					runtime.KeepAlive(loaded)
				}
			})
			rnd := rand.New(rand.NewPCG(1, 2))
			b.Run("revisions", func(b *testing.B) {
				for b.Loop() {
					p50, p99 := percentiles(10_000, func(int) { idx.Revisions(benchPath(rnd.IntN(benchFiles))) })
					b.ReportMetric(float64(p50.Nanoseconds())/1e3, "p50-µs")
					b.ReportMetric(float64(p99.Nanoseconds())/1e3, "p99-µs")
				}
			})
			b.Run("list-namespace", func(b *testing.B) {
				for b.Loop() {
					p50, p99 := percentiles(1000, func(int) {
						ns := fmt.Sprintf("ns-%02d", rnd.IntN(100))
						if _, err := idx.List(ListOptions{Prefix: "clusters/prod", Namespaces: []string{ns}, Limit: 100}); err != nil {
							b.Fatal(err)
						}
					})
					b.ReportMetric(float64(p50.Nanoseconds())/1e3, "p50-µs")
					b.ReportMetric(float64(p99.Nanoseconds())/1e3, "p99-µs")
				}
			})
			b.Run("namespace-view", func(b *testing.B) {
				for b.Loop() {
					loaded, err := LoadIndex(file)
					if err != nil {
						b.Fatal(err)
					}
					start := time.Now()
					if _, err := loaded.List(ListOptions{Prefix: "clusters/prod", Namespaces: []string{"ns-01"}, Limit: 100}); err != nil {
						b.Fatal(err)
					}
					b.ReportMetric(float64(time.Since(start).Microseconds())/1e3, "first-query-ms")
				}
			})
			b.Run("list-all", func(b *testing.B) {
				for b.Loop() {
					p50, p99 := percentiles(1000, func(int) {
						if _, err := idx.List(ListOptions{Limit: 500}); err != nil {
							b.Fatal(err)
						}
					})
					b.ReportMetric(float64(p50.Nanoseconds())/1e3, "p50-µs")
					b.ReportMetric(float64(p99.Nanoseconds())/1e3, "p99-µs")
				}
			})
		})
	}
}
