package git_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing"

	gitpkg "github.com/configbutler/gitops-reverser/pkg/git"
)

func TestConcurrentHumanCommitIsKept(t *testing.T) {
	rm := newRemote(t)
	r := openRepo(t, rm, "main", "")
	base := commit(t, r, "initial", put("apps/a.yaml", "a: 1\n"))

	// A human pushes between our last fetch and our next push.
	human := rm.humanCommit(t, "main", map[string]string{"README.md": "human\n", "apps/a.yaml": "a: 1\n"}, "human commit")
	equal(t, r.Head(), base.Hash, "our view is stale")

	res := commit(t, r, "ours", put("apps/b.yaml", "b: 2\n"), put("apps/a.yaml", "a: 10\n"))
	equal(t, res.Attempts, 2, "Attempts: first push rejected, replayed push accepted")
	equal(t, res.Pushed, true, "Pushed")
	equal(t, res.Files, 2, "Files")

	// History is linear and the human commit is an ancestor (no force push;
	// the server also has receive.denyNonFastForwards=true).
	equal(t, rm.git(t, "rev-parse", "main"), res.Hash.String(), "server tip")
	equal(t, rm.git(t, "rev-parse", "main^"), human, "our parent is the human commit")
	equal(t, rm.git(t, "rev-list", "--merges", "main"), "", "no merges")
	rm.git(t, "merge-base", "--is-ancestor", human, "main")
	equal(t, rm.git(t, "show", "main:README.md"), "human", "human change kept")
	equal(t, rm.git(t, "show", "main:apps/a.yaml"), "a: 10", "our update applied")
	equal(t, rm.git(t, "show", "main:apps/b.yaml"), "b: 2", "our create applied")

	// Every update of main recorded by the server was a fast-forward.
	reflog := strings.Fields(rm.git(t, "reflog", "show", "--format=%H", "refs/heads/main"))
	equal(t, len(reflog), 3, "server ref updates")
	for i := 0; i+1 < len(reflog); i++ {
		rm.git(t, "merge-base", "--is-ancestor", reflog[i+1], reflog[i])
	}
}

func TestReplayThatBecomesEmptyMakesNoCommit(t *testing.T) {
	rm := newRemote(t)
	r := openRepo(t, rm, "main", "")
	commit(t, r, "initial", put("a.yaml", "a\n"), put("old.yaml", "old\n"))
	// A human already made exactly our change.
	human := rm.humanCommit(t, "main", map[string]string{"a.yaml": "a2\n", "old.yaml": ""}, "same change")

	res := commit(t, r, "ours", put("a.yaml", "a2\n"), del("old.yaml"))
	equal(t, res.Changed, false, "Changed")
	equal(t, res.Pushed, false, "Pushed")
	equal(t, res.Attempts, 1, "Attempts")
	equal(t, res.Hash.String(), human, "Hash is the new remote tip")
	equal(t, r.Head().String(), human, "Head")
	equal(t, rm.git(t, "rev-parse", "main"), human, "server untouched")
}

func TestConcurrentBranchCreationIsKept(t *testing.T) {
	rm := newRemote(t)
	r := openRepo(t, rm, "main", "")
	equal(t, r.Head(), plumbing.ZeroHash, "unborn")
	// The branch appears on the remote after our Open.
	human := rm.humanCommit(t, "main", map[string]string{"README.md": "first\n"}, "human creates main")

	res := commit(t, r, "ours", put("a.yaml", "a\n"))
	equal(t, res.Attempts, 2, "Attempts")
	equal(t, rm.git(t, "rev-parse", "main^"), human, "replayed on the human root commit")
	equal(t, rm.git(t, "ls-tree", "-r", "--name-only", "main"), fmtLines("README.md", "a.yaml"), "both files")
}

// TestServerSideRaceIsRejectedAndReplayed makes the remote move after we
// read the advertised refs but before receive-pack runs, so our own check
// passes and only the server's compare-and-swap on the old hash (sent in
// the update command) can reject the push.
func TestServerSideRaceIsRejectedAndReplayed(t *testing.T) {
	for _, unborn := range []bool{false, true} {
		t.Run(fmt.Sprintf("unborn=%v", unborn), func(t *testing.T) {
			var (
				rm      *remote
				armed   atomic.Bool
				human   string
				hookErr error
				tmp     = t.TempDir()
			)
			rm = newRemoteWithHook(t, func(r *http.Request) {
				if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/git-receive-pack") && armed.CompareAndSwap(true, false) {
					human, hookErr = rm.humanCommitE(tmp, "main", map[string]string{"human.txt": "raced\n"}, "racing human")
				}
			})
			r := openRepo(t, rm, "main", "")
			want := fmtLines("b.yaml", "human.txt")
			var base gitpkg.CommitResult
			if !unborn {
				base = commit(t, r, "initial", put("a.yaml", "a\n"))
				want = fmtLines("a.yaml", "b.yaml", "human.txt")
			}

			armed.Store(true)
			res := commit(t, r, "ours", put("b.yaml", "b\n"))
			if hookErr != nil {
				t.Fatal(hookErr)
			}
			if human == "" {
				t.Fatal("race was not injected")
			}
			equal(t, res.Attempts, 2, "Attempts")
			equal(t, rm.git(t, "rev-parse", "main^"), human, "our parent is the racing commit")
			if !unborn {
				equal(t, rm.git(t, "rev-parse", "main^^"), base.Hash.String(), "racing commit's parent")
			}
			equal(t, rm.git(t, "ls-tree", "-r", "--name-only", "main"), want, "tree")
			rm.git(t, "fsck", "--strict")
		})
	}
}

// TestPushGivesUpWhileRemoteKeepsMoving: a remote that moves before every
// one of our pushes makes CommitAndPush stop after MaxPushAttempts with
// ErrPushRejected; the backoff honours the context.
func TestPushGivesUpWhileRemoteKeepsMoving(t *testing.T) {
	var (
		rm      *remote
		n       atomic.Int32
		hookErr atomic.Value
		tmp     = t.TempDir()
	)
	rm = newRemoteWithHook(t, func(r *http.Request) {
		// Only our pushes (go-git) trigger a racing human push (git CLI).
		if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/git-receive-pack") &&
			strings.HasPrefix(r.UserAgent(), "go-git") {
			i := n.Add(1)
			dir := filepath.Join(tmp, fmt.Sprint(i))
			if _, err := rm.humanCommitE(dir, "main", map[string]string{fmt.Sprintf("h/%d", i): "h\n"}, "racer"); err != nil {
				hookErr.Store(err)
			}
		}
	})
	r, err := gitpkg.Open(testCtx(t), gitpkg.Options{URL: rm.url(), Branch: "main", Dir: filepath.Join(t.TempDir(), "c"),
		Auth: rm.auth(), MaxPushAttempts: 3, RetryBaseDelay: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()

	res, err := r.CommitAndPush(testCtx(t), []gitpkg.Change{put("ours.yaml", "x")}, "ours")
	if e := hookErr.Load(); e != nil {
		t.Fatal(e)
	}
	if !errors.Is(err, gitpkg.ErrPushRejected) {
		t.Fatalf("err = %v, want ErrPushRejected", err)
	}
	equal(t, res.Attempts, 3, "Attempts")
	equal(t, res.Pushed, false, "Pushed")
	equal(t, rm.git(t, "log", "--format=%s", "main"), fmtLines("racer", "racer", "racer"), "only the racing commits landed")

	// Context cancellation during the backoff.
	r2, err := gitpkg.Open(testCtx(t), gitpkg.Options{URL: rm.url(), Branch: "main", Dir: filepath.Join(t.TempDir(), "c2"),
		Auth: rm.auth(), RetryBaseDelay: time.Minute, RetryMaxDelay: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Close()
	ctx, cancel := context.WithTimeout(testCtx(t), 2*time.Second)
	defer cancel()
	start := time.Now()
	_, err = r2.CommitAndPush(ctx, []gitpkg.Change{put("ours.yaml", "x")}, "ours")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want context.DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Fatalf("CommitAndPush ignored the context for %v", d)
	}
}
