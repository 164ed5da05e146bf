package git

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/go-git/go-git/v5/plumbing/transport/client"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
)

// RemotePolicy says which remotes the server may reach. A GitProvider's URL is a
// tenant's input: a file:// URL or a local path would let a tenant make the
// server write into any directory it can write (other targets' clones
// included), and a loopback or link-local host reaches what only the server's
// own machine should (its etcd, a cloud metadata endpoint at 169.254.169.254).
// Those are refused unless allowed; other hosts, private networks included
// (in-cluster Git servers), are allowed.
//
// The policy is applied twice: to the URL at admission (CheckURL; a literal
// address or "localhost"), and to every address actually dialed, after name
// resolution and on every HTTP redirect (Dial), so a host name that resolves
// to 127.0.0.1 is refused too.
type RemotePolicy struct {
	AllowFile      bool
	AllowLoopback  bool
	AllowLinkLocal bool
}

// RemoteKinds are the names ParseRemotePolicy accepts.
var RemoteKinds = []string{"file", "loopback", "link-local"}

// ParseRemotePolicy parses a list of RemoteKinds to allow.
func ParseRemotePolicy(kinds []string) (RemotePolicy, error) {
	var p RemotePolicy
	for _, k := range kinds {
		switch strings.TrimSpace(k) {
		case "":
		case "file":
			p.AllowFile = true
		case "loopback":
			p.AllowLoopback = true
		case "link-local":
			p.AllowLinkLocal = true
		default:
			return p, fmt.Errorf("unknown remote kind %q (want one of %s)", k, strings.Join(RemoteKinds, ", "))
		}
	}
	return p, nil
}

// AllowAll allows every remote (tests of the git engine itself).
var AllowAll = RemotePolicy{AllowFile: true, AllowLoopback: true, AllowLinkLocal: true}

// ErrRemoteRefused is wrapped by every refusal of the policy.
var ErrRemoteRefused = errors.New("remote refused by the server's policy")

// CheckURL checks a remote URL without resolving it: its transport, and its
// host when that is an address literal or a local name.
func (p RemotePolicy) CheckURL(raw string) error {
	u, err := parseRemoteURL(raw)
	if err != nil {
		return err
	}
	if u.kind == kindFile {
		if !p.AllowFile {
			return fmt.Errorf("%w: file:// URLs and local paths are not allowed (--allow-remotes=file)", ErrRemoteRefused)
		}
		return nil
	}
	if isLocalName(u.host) {
		if !p.AllowLoopback {
			return fmt.Errorf("%w: host %q is this machine (loopback; --allow-remotes=loopback)", ErrRemoteRefused, u.host)
		}
		return nil
	}
	if ip := net.ParseIP(u.host); ip != nil {
		return p.CheckIP(ip)
	}
	return nil
}

// isLocalName reports names every resolver maps to the loopback interface.
func isLocalName(host string) bool {
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	return host == "localhost" || strings.HasSuffix(host, ".localhost")
}

// CheckIP checks one address.
func (p RemotePolicy) CheckIP(ip net.IP) error {
	if v4 := ip.To4(); v4 != nil {
		ip = v4
	}
	switch {
	case ip.IsLoopback() || ip.IsUnspecified():
		if !p.AllowLoopback {
			return fmt.Errorf("%w: %s is a loopback address (--allow-remotes=loopback)", ErrRemoteRefused, ip)
		}
	case ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() || metadataIPs[ip.String()]:
		if !p.AllowLinkLocal {
			return fmt.Errorf("%w: %s is a link-local or cloud metadata address (--allow-remotes=link-local)", ErrRemoteRefused, ip)
		}
	}
	return nil
}

// metadataIPs are cloud metadata endpoints outside the link-local ranges
// (AWS's over IPv6, Alibaba Cloud's); they count as link-local.
var metadataIPs = map[string]bool{"fd00:ec2::254": true, "100.100.100.200": true}

func (p RemotePolicy) restricts() bool { return p != AllowAll }

// Dial resolves addr, refuses it when any of its addresses is refused (a name
// must not mix allowed and refused addresses), and dials the address it
// checked, so a second resolution cannot swap it.
func (p RemotePolicy) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	if isLocalName(host) && !p.AllowLoopback {
		return nil, fmt.Errorf("%w: host %q is this machine (loopback; --allow-remotes=loopback)", ErrRemoteRefused, host)
	}
	ips, err := net.DefaultResolver.LookupIP(ctx, "ip", host)
	if err != nil {
		return nil, err
	}
	for _, ip := range ips {
		if err := p.CheckIP(ip); err != nil {
			return nil, err
		}
	}
	d := net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
	var last error
	for _, ip := range ips {
		c, err := d.DialContext(ctx, network, net.JoinHostPort(ip.String(), port))
		if err == nil {
			return c, nil
		}
		last = err
	}
	return nil, last
}

// policy is the policy of this process, set once at start (SetRemotePolicy).
// go-git's transports are process-wide (its protocol registry is global), so
// the policy is too.
var policy struct {
	sync.RWMutex
	p RemotePolicy
}

func init() { policy.p = AllowAll }

// SetRemotePolicy sets the policy every later clone, fetch, push and ls-remote
// of this process obeys, and installs HTTP(S) transports that dial through it
// (redirects included).
func SetRemotePolicy(p RemotePolicy) {
	policy.Lock()
	defer policy.Unlock()
	policy.p = p
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = p.Dial
	if p.restricts() {
		// Through a proxy only the proxy's address would be checked: the
		// policy needs to see what is dialed. (HTTPS_PROXY is not used.)
		tr.Proxy = nil
	}
	c := githttp.NewClient(&http.Client{Transport: tr})
	client.InstallProtocol("http", c)
	client.InstallProtocol("https", c)
}

func currentPolicy() RemotePolicy {
	policy.RLock()
	defer policy.RUnlock()
	return policy.p
}

// checkRemote applies the process policy before a network operation: the URL,
// and for SSH (whose go-git transport dials on its own) the addresses the host
// resolves to now (a name that resolves to another address between this check
// and go-git's own dial, DNS rebinding, is not caught for SSH). HTTP(S) is
// checked again on every dial.
func checkRemote(ctx context.Context, raw string) error {
	p := currentPolicy()
	if !p.restricts() {
		return nil
	}
	if err := p.CheckURL(raw); err != nil {
		return err
	}
	u, err := parseRemoteURL(raw)
	if err != nil || (u.kind != kindSSH && u.kind != kindGit) || isLocalName(u.host) {
		return err
	}
	ips, err := net.DefaultResolver.LookupIP(ctx, "ip", u.host)
	if err != nil {
		return err // fail closed: what cannot be checked is not dialed
	}
	for _, ip := range ips {
		if err := p.CheckIP(ip); err != nil {
			return err
		}
	}
	return nil
}
