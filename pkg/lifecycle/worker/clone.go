package worker

import (
	"context"
	"os"
	"path/filepath"

	"k8s.io/klog/v2"

	"github.com/configbutler/gitops-reverser/pkg/git"
	"github.com/configbutler/gitops-reverser/pkg/lifecycle/mirror"
)

// clone is a worker's long-lived clone of its branch (in the directory
// CloneDirName names, clonedir.go) and the rendered-file index kept with it
// (index.go). It is opened on first use and reopened after the credentials,
// signing key or committer change (BranchWorker.configure).
//
// It has no lock: the worker goroutine alone uses it (tasks, flushes, the
// loop), or, in tests, the goroutine of a worker that is not started.
type clone struct {
	// m, key and settings are set at construction and never replaced.
	m        *Manager
	key      mirror.BranchKey
	settings *settings

	repo  *git.Repo
	index *renderedIndex
	// fresh: the clone has been fetched (or pushed) since the worker last went
	// idle, so tasks that run back to back share one fetch. A push built on a
	// stale tip is rejected and replayed anyway; this only saves round trips.
	fresh bool
}

// open returns the clone, opening (cloning or fetching) it when needed.
func (c *clone) open(ctx context.Context) (*git.Repo, error) {
	if c.repo != nil {
		return c.repo, nil
	}
	cfg := c.settings.get()
	dir := filepath.Join(c.m.opts.WorkDir, CloneDirName(c.key))
	if err := os.MkdirAll(c.m.opts.WorkDir, 0o700); err != nil {
		return nil, err
	}
	committer := c.m.author
	if cfg.Commit.CommitterName != "" {
		committer.Name = cfg.Commit.CommitterName
	}
	if cfg.Commit.CommitterEmail != "" {
		committer.Email = cfg.Commit.CommitterEmail
	}
	r, err := git.Open(ctx, git.Options{URL: cfg.URL, Branch: c.key.Branch, Dir: dir, Auth: cfg.Auth, Author: committer, Sign: cfg.Commit.Sign})
	if err != nil {
		return nil, err
	}
	c.repo = r
	c.index = loadIndex(dir)
	c.fresh = true // opening clones or fetches
	return r, nil
}

// synced returns the clone, fetched unless it already was since the worker
// last went idle.
func (c *clone) synced(ctx context.Context) (*git.Repo, error) {
	repo, err := c.open(ctx)
	if err != nil {
		return nil, err
	}
	if !c.fresh {
		if err := repo.Fetch(ctx); err != nil {
			return nil, err
		}
		c.fresh = true
	}
	return repo, nil
}

// stale notes that the worker goes idle: the next task fetches again.
func (c *clone) stale() { c.fresh = false }

// dropCaches lets go of the open clone's caches (git.Repo.DropCaches); the
// rendered-file index stays (the idle checkpoints move its resume points).
func (c *clone) dropCaches() {
	if c.repo == nil {
		return
	}
	if err := c.repo.DropCaches(); err != nil {
		klog.InfoS("Dropping the clone's caches failed", "worker", c.key, "err", err)
	}
}

// saveIndex saves the index when it changed; a failure costs renders later,
// never correctness, so it is only logged.
func (c *clone) saveIndex() {
	if err := c.index.save(); err != nil {
		klog.InfoS("Saving the rendered-file index failed", "worker", c.key, "err", err)
	}
}

// close saves the index and closes the clone; the next use opens it again.
func (c *clone) close() {
	c.saveIndex()
	c.index = nil
	if c.repo != nil {
		_ = c.repo.Close()
		c.repo = nil
	}
	c.fresh = false
}
