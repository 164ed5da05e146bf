package git

import (
	"context"
	"net"
)

// SetLookupIP replaces the resolver of RemotePolicy.Dial until restore is
// called (tests resolve names of their own to chosen addresses).
func SetLookupIP(f func(ctx context.Context, network, host string) ([]net.IP, error)) (restore func()) {
	old := lookupIP
	lookupIP = f
	return func() { lookupIP = old }
}
