package main

import (
	"bufio"
	"context"
	"fmt"
	"os/exec"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler/v1alpha1"
)

const (
	histNamespace = "bench-history"
	histRepo      = "bench-history"
	histPath      = "hist"
	histFiles     = 10000
	// histEvery: one commit in histEvery changes the measured object, in
	// the first history length only, so both lengths list the same
	// revisions and only the history around them grows.
	histEvery = 200
	histLists = 200
)

// historyPhase: the revisions of one object in a branch of 10,000 files,
// listed through kube-apiserver after 10,000 and again after 20,000 commits
// (p50, p99: flat as the history grows), against `git log -- <file>` on the
// bare repository itself, what reading the history without an index costs.
type historyPhase struct {
	*env
	bare string
}

func (e *env) benchHistory(ctx context.Context) error {
	return (&historyPhase{env: e, bare: e.st.Git.RepoPath(histRepo)}).run(ctx)
}

func histFile(i int) string {
	if i < 0 {
		return histPath + "/v1/configmaps/" + histNamespace + "/hello.yaml"
	}
	return fmt.Sprintf("%s/v1/configmaps/%s/%s.yaml", histPath, histNamespace, cmName(i))
}

func (p *historyPhase) run(ctx context.Context) error {
	if err := p.ensureNamespace(ctx, histNamespace); err != nil {
		return err
	}
	if _, err := p.st.Git.CreateBareRepo(histRepo); err != nil {
		return err
	}
	start := time.Now()
	if err := p.importCommits(histFiles, true); err != nil {
		return err
	}
	p.res.note("history: wrote %d commits touching %d files with git fast-import in %s", histFiles, histFiles+1, time.Since(start).Round(time.Millisecond))
	if err := p.setupGitProvider(ctx, histNamespace, histRepo, histRepo, ""); err != nil {
		return err
	}
	// A target without rules: it claims its path and writes nothing there.
	t := &v1alpha1.GitTarget{ObjectMeta: metav1.ObjectMeta{Name: "history", Namespace: histNamespace},
		Spec: v1alpha1.GitTargetSpec{ProviderRef: v1alpha1.GitProviderReference{Name: histRepo}, Branch: "main", Path: histPath}}
	if _, err := p.cbDirect.ConfigbutlerV1alpha1().GitTargets(histNamespace).Create(ctx, t, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	if err := poll(ctx, 2*time.Minute, func() error {
		got, err := p.cbDirect.ConfigbutlerV1alpha1().GitTargets(histNamespace).Get(ctx, t.Name, metav1.GetOptions{})
		if err == nil && got.Status.Claim == nil {
			err = fmt.Errorf("GitTarget %s/%s has not claimed its path", histNamespace, t.Name)
		}
		return err
	}); err != nil {
		return err
	}
	// The first list clones and indexes the branch: a query waits 10 s for
	// that, then is told to retry (503, Retry-After), which client-go does.
	cold := time.Now()
	var n int
	if err := poll(ctx, 10*time.Minute, func() (err error) {
		n, err = p.list(ctx)
		return err
	}); err != nil {
		return err
	}
	want := n
	p.res.add(figure{Name: fmt.Sprintf("first list of an object's revisions, %d commits (clone and index)", histFiles), Unit: "ms", Ours: ms(time.Since(cold))}, 0, 0)
	if err := p.measure(ctx, histFiles); err != nil {
		return err
	}
	if err := p.importCommits(histFiles, false); err != nil {
		return err
	}
	// The index follows the branch within a fetch: wait until the object
	// changed in the last commit is listed.
	last := fmt.Sprintf("object.kind=ConfigMap,object.name=%s", cmName(lastChanged(2*histFiles-1)))
	if err := poll(ctx, 2*time.Minute, func() error {
		l, err := p.cb.ConfigbutlerV1alpha1().ObjectRevisions(histNamespace).List(ctx, metav1.ListOptions{FieldSelector: last, Limit: 1})
		if err == nil && (len(l.Items) == 0 || !strings.HasPrefix(l.Items[0].Commit, p.tip())) {
			err = fmt.Errorf("the history index has not reached the tip")
		}
		return err
	}); err != nil {
		return err
	}
	n, err := p.list(ctx)
	if err != nil || n != want {
		return fmt.Errorf("after 10,000 more commits: %d revisions (%v), want %d", n, err, want)
	}
	if err := p.measure(ctx, 2*histFiles); err != nil {
		return err
	}
	return removeTargets(ctx, p.cbDirect, histNamespace)
}

// lastChanged is the ConfigMap commit i (>= histFiles/100) updates.
func lastChanged(i int) int { return i * 7919 % histFiles }

// importCommits writes commits with git fast-import straight into the bare
// repository: first (fresh) 100 commits adding 100 files each, then one
// update per commit, every histEvery-th to hello; later, n updates of the
// other files on top of the tip.
func (p *historyPhase) importCommits(n int, fresh bool) error {
	cmd := exec.Command("git", "-C", p.bare, "fast-import", "--quiet")
	in, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return err
	}
	w := bufio.NewWriterSize(in, 1<<20)
	now := time.Now().Unix()
	offset := 0
	if !fresh {
		offset = n
	}
	for i := offset; i < offset+n; i++ {
		var files []int
		switch {
		case fresh && i < histFiles/100:
			for f := i * 100; f < (i+1)*100; f++ {
				files = append(files, f)
			}
		case fresh && i%histEvery == 0:
			files = []int{-1}
		default:
			files = []int{lastChanged(i)}
		}
		msg := fmt.Sprintf("bench: commit %d\n\nKubernetes-User: user-%d\nKubernetes-Verb: update\n", i, i%50)
		fmt.Fprintf(w, "commit refs/heads/main\ncommitter Bench <bench@example.invalid> %d +0000\ndata %d\n%s", now, len(msg), msg)
		if i == offset && !fresh {
			w.WriteString("from refs/heads/main^0\n")
		}
		for _, f := range files {
			name := "hello"
			if f >= 0 {
				name = cmName(f)
			}
			body := fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: %s\n  namespace: %s\ndata:\n  seq: \"%d\"\n", name, histNamespace, i)
			fmt.Fprintf(w, "M 100644 inline %s\ndata %d\n%s\n", histFile(f), len(body), body)
		}
	}
	if err := w.Flush(); err != nil {
		return err
	}
	in.Close()
	if err := cmd.Wait(); err != nil {
		return fmt.Errorf("git fast-import: %v: %s", err, stderr.String())
	}
	return nil
}

func (p *historyPhase) tip() string {
	out, _ := exec.Command("git", "-C", p.bare, "rev-parse", "main").Output()
	return strings.TrimSpace(string(out))
}

// list lists hello's revisions through kube-apiserver.
func (p *historyPhase) list(ctx context.Context) (int, error) {
	l, err := p.cb.ConfigbutlerV1alpha1().ObjectRevisions(histNamespace).List(ctx, metav1.ListOptions{FieldSelector: "object.kind=ConfigMap,object.name=hello"})
	if err != nil {
		return 0, err
	}
	if len(l.Items) == 0 {
		return 0, fmt.Errorf("no revisions of hello")
	}
	return len(l.Items), nil
}

// measure lists hello's revisions histLists times through kube-apiserver,
// and runs `git log -- <hello's file>` on the bare repository 5 times (it
// takes seconds).
func (p *historyPhase) measure(ctx context.Context, commits int) error {
	var ours, git []time.Duration
	revisions := 0
	for range histLists {
		t0 := time.Now()
		n, err := p.list(ctx)
		if err != nil {
			return err
		}
		ours, revisions = append(ours, time.Since(t0)), n
	}
	for range 5 {
		t0 := time.Now()
		out, err := exec.Command("git", "-C", p.bare, "log", "--format=%H %an", "main", "--", histFile(-1)).Output()
		if err != nil {
			return err
		}
		git = append(git, time.Since(t0))
		if got := strings.Count(string(out), "\n"); got != revisions {
			p.res.note("history: git log lists %d commits of hello, the API %d revisions", got, revisions)
		}
	}
	base := ms(percentile(git, 50))
	p.res.add(figure{Name: fmt.Sprintf("list one object's %d revisions through kube-apiserver, %d commits, p50", revisions, commits), Unit: "ms",
		Ours: ms(percentile(ours, 50)), Baseline: base, BaselineName: "git log -- <file>, p50"}, 0, 100)
	p.res.add(figure{Name: fmt.Sprintf("list one object's %d revisions through kube-apiserver, %d commits, p99", revisions, commits), Unit: "ms",
		Ours: ms(percentile(ours, 99)), Baseline: base, BaselineName: "git log -- <file>, p50"}, 0, 0)
	return nil
}
