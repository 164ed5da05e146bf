package git

import (
	"context"
	"errors"
	"fmt"

	gogit "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/transport"
)

// Fetch updates Head from the remote branch. A missing remote branch (or an
// empty remote) is not an error: Head becomes zero.
func (r *Repo) Fetch(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.fetch(ctx)
}

func (r *Repo) fetch(ctx context.Context) error {
	if r.db.closed() {
		return errClosed
	}
	if err := checkRemote(ctx, r.remote.url); err != nil {
		return fmt.Errorf("git: %w", err)
	}
	remote, err := r.db.repo.Remote(remoteName)
	if err != nil {
		return fmt.Errorf("git: %w", err)
	}
	if limit := MaxObjectSize(); limit > 0 {
		// The same remote over the clone's storage, except that the pack
		// it receives is scanned against the object size bound on its way
		// (packscan.go).
		remote = gogit.NewRemote(scanStorage{Storage: r.db.storage, limit: limit}, remote.Config())
	}
	// Only the branch: the remote's one refspec (configure) and no tags, so
	// a repository's other branches and tags are never downloaded. Bounded
	// by MaxFetchSize and MaxObjectSize.
	ctx, dl := withDownload(ctx)
	err = remote.FetchContext(ctx, &gogit.FetchOptions{
		RemoteName: remoteName,
		RefSpecs:   []config.RefSpec{r.remote.fetchSpec()},
		Auth:       r.remote.auth,
		Tags:       gogit.NoTags,
	})
	err = dl.check(err)
	switch {
	case err == nil:
		// New objects arrived as a new packfile. Best effort, see
		// objectDB.consolidatePacks.
		_ = r.db.consolidatePacks()
		return r.loadHead()
	case errors.Is(err, gogit.NoErrAlreadyUpToDate):
		return r.loadHead()
	case errors.Is(err, transport.ErrEmptyRemoteRepository), errors.Is(err, gogit.NoMatchingRefSpecError{}):
		// The branch does not exist (yet) on the remote.
		if err := r.db.storage.RemoveReference(r.remote.trackingRef); err != nil {
			return fmt.Errorf("git: %w", err)
		}
		return r.loadHead()
	default:
		// A fetch cut short leaves go-git's temporary pack behind.
		r.db.removeTempPacks()
		return fmt.Errorf("git: fetch %s branch %s: %w", Redact(r.remote.url), r.remote.branch, redactErr(err, r.remote.secrets))
	}
}

// loadHead sets r.head from the tracking ref and mirrors it into the local
// branch ref (the push source).
func (r *Repo) loadHead() error {
	ref, err := r.db.storage.Reference(r.remote.trackingRef)
	switch {
	case errors.Is(err, plumbing.ErrReferenceNotFound):
		r.head = plumbing.ZeroHash
	case err != nil:
		return fmt.Errorf("git: read %s: %w", r.remote.trackingRef, err)
	default:
		r.head = ref.Hash()
	}
	return r.setLocalBranch(r.head)
}

func (r *Repo) setLocalBranch(h plumbing.Hash) error {
	var err error
	if h.IsZero() {
		err = r.db.storage.RemoveReference(r.remote.branchRef)
	} else {
		err = r.db.storage.SetReference(plumbing.NewHashReference(r.remote.branchRef, h))
	}
	if err != nil {
		return fmt.Errorf("git: update %s: %w", r.remote.branchRef, err)
	}
	return nil
}
