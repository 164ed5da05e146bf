package git

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/go-git/go-git/v5/plumbing/transport/client"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"

	"github.com/configbutler/gitops-reverser/pkg/gitmodel"
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
// to 127.0.0.1 is refused too. HTTP(S) and SSH dial through Dial (see
// SetRemotePolicy); git:// is checked by resolving its host before go-git
// dials it on its own.
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

// CheckURL checks a remote URL without resolving it: its transport, and its
// host when that is an address literal or a local name.
func (p RemotePolicy) CheckURL(raw string) error {
	u, err := gitmodel.ParseRemoteURL(raw)
	if err != nil {
		return err
	}
	if u.Kind == gitmodel.KindFile {
		if !p.AllowFile {
			return fmt.Errorf("%w: file:// URLs and local paths are not allowed (--allow-remotes=file)", ErrRemoteRefused)
		}
		return nil
	}
	if isLocalName(u.Host) {
		if !p.AllowLoopback {
			return fmt.Errorf("%w: host %q is this machine (loopback; --allow-remotes=loopback)", ErrRemoteRefused, u.Host)
		}
		return nil
	}
	if ip := net.ParseIP(u.Host); ip != nil {
		return p.CheckIP(ip)
	}
	return nil
}

// isLocalName reports names every resolver maps to the loopback interface.
func isLocalName(host string) bool {
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	return host == "localhost" || strings.HasSuffix(host, ".localhost")
}

// CheckIP checks one address. An IPv4 address is checked in every form that
// reaches it: plain, IPv4-mapped IPv6 (::ffff:169.254.169.254) and behind the
// NAT64 prefixes (64:ff9b::/96, 64:ff9b:1::/48), which a NAT64 gateway
// translates back to the IPv4 address.
func (p RemotePolicy) CheckIP(ip net.IP) error {
	if v4 := ip.To4(); v4 != nil {
		ip = v4
	} else if v4 := nat64IPv4(ip); v4 != nil {
		if err := p.CheckIP(v4); err != nil {
			return err
		}
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

// metadataIPs are cloud metadata endpoints outside the link-local ranges; they
// count as link-local. (169.254.169.254, the metadata endpoint of AWS, GCP,
// Azure and most others, is link-local already.) Keys are net.IP.String()
// forms.
var metadataIPs = map[string]bool{
	"fd00:ec2::254":   true, // AWS instance metadata over IPv6
	"fd20:ce::254":    true, // GCP metadata server over IPv6
	"168.63.129.16":   true, // Azure wireserver (platform agent, health, DNS)
	"100.100.100.200": true, // Alibaba Cloud metadata
	"192.0.0.192":     true, // Oracle Cloud's legacy metadata endpoint
}

// nat64Prefixes are the NAT64 prefixes that embed an IPv4 address in their
// last 32 bits: the well-known 64:ff9b::/96 (RFC 6052) and the local-use
// 64:ff9b:1::/48 (RFC 8215).
var nat64Prefixes = []*net.IPNet{
	{IP: net.ParseIP("64:ff9b::"), Mask: net.CIDRMask(96, 128)},
	{IP: net.ParseIP("64:ff9b:1::"), Mask: net.CIDRMask(48, 128)},
}

// nat64IPv4 is the IPv4 address a NAT64 address stands for, nil for others.
func nat64IPv4(ip net.IP) net.IP {
	ip16 := ip.To16()
	if ip16 == nil || ip.To4() != nil {
		return nil
	}
	for _, n := range nat64Prefixes {
		if n.Contains(ip16) {
			return net.IPv4(ip16[12], ip16[13], ip16[14], ip16[15]).To4()
		}
	}
	return nil
}

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
	ips, err := lookupIP(ctx, "ip", host)
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

func init() {
	policy.p = AllowAll
	installTransports(AllowAll)
}

// lookupIP resolves host names for Dial (tests replace it).
var lookupIP = net.DefaultResolver.LookupIP

// SetRemotePolicy sets the policy every later clone, fetch, push and ls-remote
// of this process obeys, and installs HTTP(S) transports that dial through it
// (redirects included) and bound what they download (SetMaxFetchSize), and an
// SSH transport that does the same and never dials through a proxy of the
// environment (see sshTransport).
func SetRemotePolicy(p RemotePolicy) {
	policy.Lock()
	defer policy.Unlock()
	policy.p = p
	installTransports(p)
}

func installTransports(p RemotePolicy) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = p.Dial
	if p.restricts() {
		// Through a proxy only the proxy's address would be checked: the
		// policy needs to see what is dialed. (HTTPS_PROXY is not used.)
		tr.Proxy = nil
	}
	// go-git clones the client's *http.Transport when an endpoint carries
	// TLS or proxy options (CABundle, InsecureSkipTLS, ClientCert, Proxy);
	// none is ever set here, and the wrapper must stay: it bounds bodies.
	hc := &http.Client{Transport: boundedTransport{rt: tr}}
	setPushClient(hc)
	c := githttp.NewClient(hc)
	client.InstallProtocol("http", c)
	client.InstallProtocol("https", c)
	client.InstallProtocol("ssh", newSSHTransport())
}

func currentPolicy() RemotePolicy {
	policy.RLock()
	defer policy.RUnlock()
	return policy.p
}

// checkRemote applies the process policy before a network operation: the URL,
// and for git:// (whose go-git transport dials on its own, with no hook) the
// addresses the host resolves to now (a name that resolves to another address
// between this check and go-git's own dial, DNS rebinding, is not caught for
// git://). HTTP(S) and SSH are checked again on every dial.
func checkRemote(ctx context.Context, raw string) error {
	p := currentPolicy()
	if !p.restricts() {
		return nil
	}
	if err := p.CheckURL(raw); err != nil {
		return err
	}
	u, err := gitmodel.ParseRemoteURL(raw)
	if err != nil || u.Kind != gitmodel.KindGit || isLocalName(u.Host) {
		return err
	}
	ips, err := lookupIP(ctx, "ip", u.Host)
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
