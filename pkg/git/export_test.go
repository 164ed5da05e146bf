package git

import (
	"context"
	"net"

	"github.com/go-git/go-git/v5/plumbing"
)

// SetLookupIP replaces the resolver of RemotePolicy.Dial until restore is
// called (tests resolve names of their own to chosen addresses).
func SetLookupIP(f func(ctx context.Context, network, host string) ([]net.IP, error)) (restore func()) {
	old := lookupIP
	lookupIP = f
	return func() { lookupIP = old }
}

// ObjectCached reports whether go-git's object cache of the clone holds h.
func (r *Repo) ObjectCached(h string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.db.objects.Get(plumbing.NewHash(h))
	return ok
}
