package git

import (
	"context"
	"fmt"

	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/go-git/go-git/v5/plumbing/transport/client"
)

// CheckPushAccess opens a push session (the remote's receive-pack
// advertisement) with the clone's credentials and closes it without pushing.
// Remotes authorize a push session before they advertise (GitHub, GitLab and
// git-http-backend behind authentication all do), so success means these
// credentials may push here: a bootstrap that had nothing to write still
// proves it could have, before its target claims a place (a tenant naming a
// public repository it cannot write must never hold a path in it).
func (r *Repo) CheckPushAccess(ctx context.Context) (err error) {
	ctx, dl := withDownload(ctx) // an advertisement is bounded like any download
	defer func() { err = redactErr(dl.check(err), r.secrets) }()
	if err := checkRemote(ctx, r.opts.URL); err != nil {
		return fmt.Errorf("git: %w", err)
	}
	ep, err := transport.NewEndpoint(r.opts.URL)
	if err != nil {
		return err
	}
	cl, err := client.NewClient(ep)
	if err != nil {
		return err
	}
	sess, err := cl.NewReceivePackSession(ep, r.opts.Auth)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := sess.Close(); cerr != nil && err == nil {
			err = cerr
		}
	}()
	if _, err := sess.AdvertisedReferencesContext(ctx); err != nil {
		return fmt.Errorf("git: the remote refused a push session: %w", err)
	}
	return nil
}
