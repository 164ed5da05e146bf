package server

import (
	"fmt"
	"net"
	"net/url"
	"strings"
)

// checkEtcdServers refuses --etcd-servers URLs that would carry the server's
// objects in clear text over a network: plain http (or no scheme) is only
// accepted for a loopback host (127.0.0.0/8, ::1, localhost), as `make run`
// and the tests use it. Anything else must be https, with the etcd's CA and a
// client certificate (--etcd-cafile, --etcd-certfile, --etcd-keyfile): an etcd
// any pod can reach and write lets it rewrite every object's status (issue
// "Hostile tenants"). unix and unixs sockets are local and accepted.
func checkEtcdServers(servers []string) error {
	for _, s := range servers {
		if err := checkEtcdServer(s); err != nil {
			return err
		}
	}
	return nil
}

func checkEtcdServer(s string) error {
	refuse := func(why string) error {
		return fmt.Errorf("--etcd-servers %q: %s; only a loopback host (127.0.0.1, ::1, localhost) may use plain http. "+
			"Use https://HOST:PORT with --etcd-cafile, --etcd-certfile and --etcd-keyfile (mutual TLS)", s, why)
	}
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok {
		// etcd's client reads "host:port" as plain unless TLS is configured;
		// a scheme says which was meant.
		if isLoopbackHost(hostOf(s)) {
			return nil
		}
		return refuse("no scheme (plain http)")
	}
	switch strings.ToLower(scheme) {
	case "https", "unixs", "unix":
		return nil
	case "http":
		u, err := url.Parse("http://" + rest)
		if err != nil {
			return refuse(fmt.Sprintf("not a URL (%v)", err))
		}
		if isLoopbackHost(u.Hostname()) {
			return nil
		}
		return refuse("plain http to a host that is not loopback")
	default:
		return fmt.Errorf("--etcd-servers %q: unknown scheme %q, want https (or http on loopback)", s, scheme)
	}
}

// hostOf is the host of "host:port", "[v6]:port" or a bare host.
func hostOf(hostport string) string {
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		return h
	}
	return strings.Trim(hostport, "[]")
}

// isLoopbackHost reports whether host is localhost or a loopback address.
func isLoopbackHost(host string) bool {
	if strings.EqualFold(strings.TrimSuffix(host, "."), "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
