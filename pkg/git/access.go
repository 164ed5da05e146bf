package git

import (
	"context"
)

// CheckPushAccess opens a push session (the remote's receive-pack
// advertisement) with the clone's credentials and closes it without pushing.
// Remotes authorize a push session before they advertise (GitHub, GitLab and
// git-http-backend behind authentication all do), so success means these
// credentials may push here: a bootstrap that had nothing to write still
// proves it could have, before its target claims a place (a tenant naming a
// public repository it cannot write must never hold a path in it). It reads
// only what is fixed at Open, so it does not wait for the Repo's lock.
func (r *Repo) CheckPushAccess(ctx context.Context) error {
	return r.remote.checkPushAccess(ctx)
}
