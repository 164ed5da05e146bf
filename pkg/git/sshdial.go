package git

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net"
	"net/url"
	"sync"

	"github.com/go-git/go-git/v5/plumbing/protocol/packp"
	"github.com/go-git/go-git/v5/plumbing/transport"
	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
	"golang.org/x/net/proxy"
)

// The SSH transport. go-git's dials on its own: it resolves the host itself
// (so a check of the name's addresses before the dial is not a check of the
// address dialed: DNS rebinding) and, without proxy options, through
// proxy.FromEnvironment (ALL_PROXY), where only the proxy's address would be
// dialed. Its one hook is the endpoint's proxy options: a proxy URL whose
// scheme is registered with golang.org/x/net/proxy is dialed through the
// registered dialer. sshTransport sets, on every session's endpoint, such a
// URL naming a dialer of this session: it dials through the remote policy
// (RemotePolicy.Dial: the address checked is the address dialed), never
// through a proxy, and counts what the connection reads in the session's
// download budget (SetMaxFetchSize).

// sshDialScheme is the proxy scheme that routes go-git's SSH dials to sshDials.
const sshDialScheme = "gitops-reverser-dial"

// sshDials are the dialers of the sessions being opened, by proxy URL host.
var sshDials sync.Map // string -> *sshDialer

func init() {
	proxy.RegisterDialerType(sshDialScheme, func(u *url.URL, _ proxy.Dialer) (proxy.Dialer, error) {
		d, ok := sshDials.Load(u.Host)
		if !ok {
			return nil, errors.New("git: SSH dial outside a session")
		}
		return d.(*sshDialer), nil
	})
}

// sshDialer dials one SSH session's connection.
type sshDialer struct {
	policy RemotePolicy
	budget *budget
}

func (d *sshDialer) Dial(network, addr string) (net.Conn, error) {
	return d.DialContext(context.Background(), network, addr)
}

func (d *sshDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	c, err := d.policy.Dial(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	if d.budget == nil {
		return c, nil
	}
	return &countingConn{Conn: c, b: d.budget}, nil
}

// sshTransport is the SSH transport SetRemotePolicy installs: go-git's own,
// dialing through sshDialer.
type sshTransport struct{ inner transport.Transport }

func newSSHTransport() transport.Transport { return &sshTransport{inner: gitssh.NewClient(nil)} }

// open runs newSession (which dials: go-git's SSH sessions connect when
// created) with ep routed through a dialer of its own.
func (t *sshTransport) open(ep *transport.Endpoint, newSession func(*transport.Endpoint) error) (*budget, error) {
	var rnd [12]byte
	_, _ = rand.Read(rnd[:])
	id := hex.EncodeToString(rnd[:])
	b := newBudget(MaxFetchSize())
	sshDials.Store(id, &sshDialer{policy: currentPolicy(), budget: b})
	defer sshDials.Delete(id)
	routed := *ep
	// Whatever proxy the caller or the environment names: ours replaces it.
	routed.Proxy = transport.ProxyOptions{URL: sshDialScheme + "://" + id}
	err := newSession(&routed)
	if err != nil && b.exceeded() {
		// Before any operation could link the budget (a tiny limit).
		return nil, &FetchTooLargeError{Limit: b.limit}
	}
	return b, err
}

func (t *sshTransport) NewUploadPackSession(ep *transport.Endpoint, auth transport.AuthMethod) (transport.UploadPackSession, error) {
	var s transport.UploadPackSession
	b, err := t.open(ep, func(ep *transport.Endpoint) (err error) {
		s, err = t.inner.NewUploadPackSession(ep, auth)
		return err
	})
	if err != nil {
		return nil, err
	}
	return &sshUploadPack{UploadPackSession: s, b: b}, nil
}

func (t *sshTransport) NewReceivePackSession(ep *transport.Endpoint, auth transport.AuthMethod) (transport.ReceivePackSession, error) {
	var s transport.ReceivePackSession
	b, err := t.open(ep, func(ep *transport.Endpoint) (err error) {
		s, err = t.inner.NewReceivePackSession(ep, auth)
		return err
	})
	if err != nil {
		return nil, err
	}
	return &sshReceivePack{ReceivePackSession: s, b: b}, nil
}

// sshUploadPack links its connection's budget to the operation that uses it.
type sshUploadPack struct {
	transport.UploadPackSession
	b *budget
}

func (s *sshUploadPack) AdvertisedReferencesContext(ctx context.Context) (*packp.AdvRefs, error) {
	link(ctx, s.b)
	return s.UploadPackSession.AdvertisedReferencesContext(ctx)
}

func (s *sshUploadPack) UploadPack(ctx context.Context, req *packp.UploadPackRequest) (*packp.UploadPackResponse, error) {
	link(ctx, s.b)
	return s.UploadPackSession.UploadPack(ctx, req)
}

type sshReceivePack struct {
	transport.ReceivePackSession
	b *budget
}

func (s *sshReceivePack) AdvertisedReferencesContext(ctx context.Context) (*packp.AdvRefs, error) {
	link(ctx, s.b)
	return s.ReceivePackSession.AdvertisedReferencesContext(ctx)
}

func (s *sshReceivePack) ReceivePack(ctx context.Context, req *packp.ReferenceUpdateRequest) (*packp.ReportStatus, error) {
	link(ctx, s.b)
	return s.ReceivePackSession.ReceivePack(ctx, req)
}
