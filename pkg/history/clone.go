package history

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"k8s.io/klog/v2"

	"github.com/configbutler/gitops-reverser/pkg/git"
)

// clone is one key's read-only clone and index. repo is used by the one
// goroutine opening or refreshing it; obj and idx are set before ready is
// closed and never replaced (the index swaps its content itself, the reader
// reopens its storage itself), so queries use them without the store's lock.
// The other fields are guarded by Store.mu.
type clone struct {
	key   BranchKey
	dir   string
	ready chan struct{}
	err   error // the open's error, set before ready is closed

	repo *git.Repo
	obj  *git.ObjectReader
	idx  *Index

	opened     bool // ready, without error
	failedAt   time.Time
	users      int
	lastUsed   time.Time
	refreshing bool
	lastFetch  time.Time
	fetchErr   error
	failures   int // consecutive failed refreshes
	fetches    int64
	dirty      bool // the index moved since it was saved
	savedAt    time.Time
}

// acquire returns the key's clone, opening it if needed (and waiting for
// that), and starts a background refresh when it is due. release it after.
func (s *Store) acquire(ctx context.Context, key BranchKey) (*clone, error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, ErrClosed
	}
	c := s.clones[key]
	if c != nil && !c.failedAt.IsZero() && time.Since(c.failedAt) >= s.o.FreshFor {
		delete(s.clones, key) // a failed open is retried after FreshFor
		c = nil
	}
	if c == nil {
		c = &clone{key: key, dir: filepath.Join(s.o.Dir, CloneDirName(key)), ready: make(chan struct{})}
		s.clones[key] = c
		s.wg.Add(1)
		go s.open(c)
	}
	c.users++
	c.lastUsed = time.Now()
	s.mu.Unlock()
	wait := time.NewTimer(s.o.WaitOpen)
	defer wait.Stop()
	select {
	case <-c.ready:
	case <-ctx.Done():
		s.release(c)
		return nil, ctx.Err()
	case <-wait.C:
		s.release(c)
		return nil, fmt.Errorf("%w (waited %s)", ErrOpening, s.o.WaitOpen)
	}
	if c.err != nil {
		s.release(c)
		return nil, c.err
	}
	s.maybeRefresh(c)
	return c, nil
}

func (s *Store) release(c *clone) {
	s.mu.Lock()
	c.users--
	c.lastUsed = time.Now()
	s.mu.Unlock()
}

// open opens a clone: waits for an evicted clone of the key to finish
// closing, then clones or fetches, loads the saved index and brings it to
// the tip (rebuilding it when there is none).
func (s *Store) open(c *clone) {
	defer s.wg.Done()
	err := s.openClone(c)
	s.mu.Lock()
	if err != nil {
		c.err = err
		c.failedAt = time.Now()
	} else {
		c.opened = true
		c.lastFetch, c.savedAt = time.Now(), time.Now()
	}
	s.mu.Unlock()
	close(c.ready)
}

func (s *Store) openClone(c *clone) error {
	s.mu.Lock()
	closing := s.closing[c.key]
	s.mu.Unlock()
	if closing != nil {
		<-closing
	}
	select {
	case s.sem <- struct{}{}:
	case <-s.ctx.Done():
		return ErrClosed
	}
	defer func() { <-s.sem }()
	ctx, cancel := context.WithTimeout(s.ctx, s.o.OpenTimeout)
	defer cancel()
	repo, err := s.dial(ctx, c)
	if err != nil {
		return err
	}
	obj := git.OpenObjectReader(repo.Dir(), 0)
	file := filepath.Join(repo.Dir(), IndexFile)
	idx, lerr := LoadIndex(file)
	if lerr != nil {
		if !errors.Is(lerr, os.ErrNotExist) {
			klog.InfoS("Rebuilding a history index that could not be loaded", "branch", c.key.Name, "err", lerr)
		}
		idx = NewIndex()
	}
	changed, err := updateIndex(ctx, idx, repo, s.o.WalkCache)
	if err != nil {
		_ = obj.Close()
		_ = repo.Close()
		return err
	}
	if changed || lerr != nil {
		if err := idx.Save(file); err != nil {
			klog.InfoS("Saving a history index failed", "branch", c.key.Name, "err", err)
		}
	}
	c.repo, c.obj, c.idx = repo, obj, idx
	return nil
}

// dial resolves the key's remote and opens the clone (cloning or fetching).
func (s *Store) dial(ctx context.Context, c *clone) (*git.Repo, error) {
	r, err := s.o.Resolve(ctx, c.key)
	if err != nil {
		return nil, err
	}
	url := r.URL
	if url == "" {
		url = c.key.URL
	}
	return git.Open(ctx, git.Options{URL: url, Branch: c.key.Branch, Dir: c.dir, Auth: r.Auth})
}

// updateIndex brings idx to the clone's head, walking with a reader of its
// own (with a cache of walkCache bytes, closed after the walk).
func updateIndex(ctx context.Context, idx *Index, repo *git.Repo, walkCache int64) (bool, error) {
	tip := repo.Head()
	if idx.tipHash() == tip {
		return false, nil
	}
	w := git.OpenObjectReader(repo.Dir(), walkCache)
	defer w.Close()
	return idx.Update(ctx, w, tip)
}

// maybeRefresh starts a background refresh when the last one is older than
// FreshFor (longer after failures: FreshFor doubled per failure, up to 32
// times).
func (s *Store) maybeRefresh(c *clone) {
	s.mu.Lock()
	defer s.mu.Unlock()
	wait := s.o.FreshFor << min(c.failures, 5)
	if s.closed || c.refreshing || time.Since(c.lastFetch) < wait {
		return
	}
	c.refreshing = true
	s.wg.Add(1)
	go s.refresh(c)
}

// refresh fetches (after a failed fetch: opens the clone again with fresh
// credentials) and brings the index to the new tip.
func (s *Store) refresh(c *clone) {
	defer s.wg.Done()
	ctx, cancel := context.WithTimeout(s.ctx, s.o.FetchTimeout)
	defer cancel()
	s.mu.Lock()
	redial := c.failures > 0
	s.mu.Unlock()
	var err error
	if redial {
		// Closed first: two Repos never share a directory. A failed open
		// leaves the closed Repo (Head still answers) for the next try.
		_ = c.repo.Close()
		var repo *git.Repo
		if repo, err = s.dial(ctx, c); err == nil {
			c.repo = repo
		}
	} else {
		err = c.repo.Fetch(ctx)
	}
	changed := false
	if err == nil {
		changed, err = updateIndex(ctx, c.idx, c.repo, s.o.WalkCache)
	}
	s.mu.Lock()
	c.refreshing = false
	c.lastFetch = time.Now()
	c.fetches++
	c.fetchErr = err
	if err != nil {
		c.failures++
	} else {
		c.failures = 0
	}
	c.dirty = c.dirty || changed
	save := c.dirty && time.Since(c.savedAt) >= s.o.SaveEvery
	if save {
		c.dirty, c.savedAt = false, time.Now()
	}
	s.mu.Unlock()
	if err != nil && s.ctx.Err() == nil {
		klog.InfoS("Refreshing a history clone failed; answering from its index", "branch", c.key.Name, "err", err)
	}
	if save {
		s.save(c)
	}
}

func (s *Store) save(c *clone) {
	if err := c.idx.Save(filepath.Join(c.dir, IndexFile)); err != nil {
		klog.InfoS("Saving a history index failed", "branch", c.key.Name, "err", err)
	}
}

// janitor closes idle clones.
func (s *Store) janitor() {
	defer s.wg.Done()
	t := time.NewTicker(max(min(s.o.IdleAfter/2, time.Minute), 10*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
			s.evictIdle()
		}
	}
}

// evictIdle closes the clones no query used for IdleAfter, and forgets
// failed opens.
func (s *Store) evictIdle() {
	s.mu.Lock()
	var idle []*clone
	for k, c := range s.clones {
		if !c.failedAt.IsZero() && time.Since(c.failedAt) >= s.o.FreshFor {
			delete(s.clones, k)
			continue
		}
		if !c.opened || c.users > 0 || c.refreshing || time.Since(c.lastUsed) < s.o.IdleAfter {
			continue
		}
		delete(s.clones, k)
		s.closing[k] = make(chan struct{})
		idle = append(idle, c)
	}
	s.mu.Unlock()
	for _, c := range idle {
		s.closeClone(c)
		s.mu.Lock()
		close(s.closing[c.key])
		delete(s.closing, c.key)
		s.mu.Unlock()
	}
}

// closeClone saves the index if it moved and closes the clone.
func (s *Store) closeClone(c *clone) {
	s.mu.Lock()
	dirty := c.dirty
	c.dirty = false
	s.mu.Unlock()
	if dirty {
		s.save(c)
	}
	_ = c.obj.Close()
	_ = c.repo.Close()
}

// Close stops every fetch, saves the indexes that moved and closes the
// clones. Queries after Close fail with ErrClosed.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	s.cancel()
	s.wg.Wait()
	s.mu.Lock()
	clones := s.clones
	s.clones = map[BranchKey]*clone{}
	s.mu.Unlock()
	for _, c := range clones {
		if c.opened {
			s.closeClone(c)
		}
	}
	return nil
}
