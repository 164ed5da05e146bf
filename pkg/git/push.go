package git

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
)

// CommitResult reports what CommitAndPush did.
type CommitResult struct {
	// Hash is the new branch tip when Pushed, otherwise Head (which may
	// have moved during replays).
	Hash plumbing.Hash
	// Changed is true when a commit was created and pushed; false when the
	// change set left the tree identical (nothing to commit).
	Changed bool
	// Pushed is true when the remote branch now points at Hash because of us.
	Pushed bool
	// Attempts is the number of pushes tried: 1 when the first push was
	// accepted, 0 when there was nothing to commit in the first place; each
	// rejection because the branch moved adds one.
	Attempts int
	// Files is the number of paths that differ from the parent tree
	// (created, updated or deleted files) in the pushed commit.
	Files int
}

// CommitAndPush applies changes on top of Head, commits them with message
// and pushes to the branch without ever forcing.
//
// Semantics of the change set:
//   - a write whose content equals the current file is a no-op; a delete of
//     a file that does not exist is a no-op; if the resulting tree equals
//     the tip's tree no commit is made (Changed=false);
//   - deleting the last file of a directory removes the directory;
//   - if a path appears more than once, the last change wins;
//   - writing a file where the tree has a directory, or below a path that is
//     a file (unless that file is deleted in the same change set), fails
//     with ErrInvalidChange: we never drop somebody else's subtree.
//
// A push is accepted by the server only if the branch still points at the
// commit we built on (or is still absent). If it moved, the clone is
// fetched, the same change set is replayed on the new tip (keeping the
// other commits; the replay may turn out to be empty) and the push retried
// with jittered exponential backoff, up to Options.MaxPushAttempts. Running
// out of attempts returns an error wrapping ErrPushRejected. Other failures
// (auth, network) are returned after the first attempt, without retry.
func (r *Repo) CommitAndPush(ctx context.Context, changes []Change, message string) (CommitResult, error) {
	return r.CommitChainAndPush(ctx, []Commit{{Changes: changes, Message: message}})
}

// Commit is one commit of a chain: a change set, its message and, when not
// nil, its author (the committer is always Options.Author).
type Commit struct {
	Changes []Change
	Message string
	Author  *Signature
}

// CommitChainAndPush commits each change set on top of the previous one, with
// the semantics of CommitAndPush (a change set that changes nothing makes no
// commit), and pushes the last commit in one exchange: a worker behind on a
// busy branch keeps its commits at most maxChanges files each, but pays for
// one push, not one per commit. On rejection the whole chain is replayed on
// the new tip. Hash is the chain's tip; Files counts the files of every
// commit.
func (r *Repo) CommitChainAndPush(ctx context.Context, commits []Commit) (CommitResult, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var res CommitResult
	if r.db.closed() {
		return res, errClosed
	}
	plans := make([]*changePlan, len(commits))
	meta := make([]Commit, len(commits))
	for i, c := range commits {
		plan, err := newChangePlan(c.Changes)
		if err != nil {
			return res, err
		}
		if strings.TrimSpace(c.Message) == "" {
			return res, errors.New("git: empty commit message")
		}
		plans[i] = plan
		meta[i] = Commit{Message: c.Message, Author: c.Author}
	}
	// From here on only the plans' blobs hold the content: a caller that
	// does not keep its changes lets go of them.
	commits = meta

	delay := r.retry.baseDelay
	for {
		base := r.head
		built, err := r.commits.chain(plans, commits, base)
		if err != nil {
			return res, err
		}
		if built == nil {
			res.Hash, res.Changed, res.Pushed, res.Files = base, false, false, 0
			return res, nil
		}
		res.Attempts++
		res.Files = built.files

		pushErr := r.remote.push(ctx, base, built, filepath.Join(r.db.dir, "objects", "pack"))
		if pushErr == nil {
			if err := r.pushed(built.hash); err != nil {
				return res, err
			}
			res.Hash, res.Changed, res.Pushed = built.hash, true, true
			return res, nil
		}
		if ctx.Err() != nil {
			return res, fmt.Errorf("git: push %s: %w", r.remote.branch, pushErr)
		}

		// Did the push fail because the branch moved? Ask the remote.
		if err := r.fetch(ctx); err != nil {
			return res, fmt.Errorf("git: push %s: %w (and fetch after the failed push: %v)", r.remote.branch, pushErr, err)
		}
		switch r.head {
		case built.hash:
			// The push landed but its response was lost.
			res.Hash, res.Changed, res.Pushed = built.hash, true, true
			return res, nil
		case base:
			// Not a conflict: report the push error as is.
			return res, fmt.Errorf("git: push %s: %w", r.remote.branch, pushErr)
		}
		if res.Attempts >= r.retry.attempts {
			return res, fmt.Errorf("git: push %s: gave up after %d attempts: %w (last error: %v)",
				r.remote.branch, res.Attempts, ErrPushRejected, pushErr)
		}
		if err := sleepCtx(ctx, jitter(delay)); err != nil {
			return res, fmt.Errorf("git: push %s: %w", r.remote.branch, err)
		}
		delay = min(delay*2, r.retry.maxDelay)
	}
}

// pushed records a successful push of commit.
func (r *Repo) pushed(commit plumbing.Hash) error {
	if err := r.db.storage.SetReference(plumbing.NewHashReference(r.remote.trackingRef, commit)); err != nil {
		return fmt.Errorf("git: update %s: %w", r.remote.trackingRef, err)
	}
	r.head = commit
	if err := r.setLocalBranch(commit); err != nil {
		return err
	}
	// Best effort: a failure leaves the clone valid and is retried after
	// the next push.
	_ = r.db.consolidatePacks()
	return nil
}

// retryPolicy is how a push rejected because the branch moved is retried
// (Options.MaxPushAttempts, RetryBaseDelay, RetryMaxDelay).
type retryPolicy struct {
	attempts            int
	baseDelay, maxDelay time.Duration
}

func jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	// Uniform in [d/2, d).
	return d/2 + rand.N(d/2+1)
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
