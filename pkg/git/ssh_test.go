package git_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/go-git/go-git/v5/plumbing/transport"
	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
	"golang.org/x/crypto/ssh"

	gitpkg "github.com/configbutler/gitops-reverser/pkg/git"
)

// sshServer serves the bare repositories on this machine over SSH with the
// real git upload-pack and receive-pack (the path of the URL is the
// repository's absolute path). It accepts one client key.
type sshServer struct {
	addr    string
	hostKey ssh.PublicKey
	client  ssh.Signer
	conns   atomic.Int32
}

func newSigner(t testing.TB) ssh.Signer {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func startSSHServer(t testing.TB) *sshServer {
	t.Helper()
	host, client := newSigner(t), newSigner(t)
	cfg := &ssh.ServerConfig{PublicKeyCallback: func(_ ssh.ConnMetadata, k ssh.PublicKey) (*ssh.Permissions, error) {
		if bytes.Equal(k.Marshal(), client.PublicKey().Marshal()) {
			return nil, nil
		}
		return nil, errors.New("unknown key")
	}}
	cfg.AddHostKey(host)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	s := &sshServer{addr: l.Addr().String(), hostKey: host.PublicKey(), client: client}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			s.conns.Add(1)
			go serveSSH(c, cfg)
		}
	}()
	return s
}

func serveSSH(c net.Conn, cfg *ssh.ServerConfig) {
	defer c.Close()
	_, chans, reqs, err := ssh.NewServerConn(c, cfg)
	if err != nil {
		return
	}
	go ssh.DiscardRequests(reqs)
	for nc := range chans {
		if nc.ChannelType() != "session" {
			_ = nc.Reject(ssh.UnknownChannelType, "sessions only")
			continue
		}
		ch, creqs, err := nc.Accept()
		if err != nil {
			continue
		}
		go func() {
			for req := range creqs {
				if req.Type != "exec" || len(req.Payload) < 4 {
					_ = req.Reply(false, nil)
					continue
				}
				_ = req.Reply(true, nil)
				go runGitService(ch, string(req.Payload[4:4+binary.BigEndian.Uint32(req.Payload)]))
			}
		}()
	}
}

// runGitService runs "git-upload-pack '/path'" (or receive-pack) on ch.
func runGitService(ch ssh.Channel, command string) {
	defer ch.Close()
	service, path, _ := strings.Cut(command, " ")
	path = strings.Trim(path, "'")
	code := uint32(1)
	if service == "git-upload-pack" || service == "git-receive-pack" {
		cmd := exec.Command("git", strings.TrimPrefix(service, "git-"), path)
		cmd.Env = gitEnv(os.TempDir())
		stdin, err := cmd.StdinPipe()
		if err == nil {
			cmd.Stdout, cmd.Stderr = ch, ch.Stderr()
			go func() { _, _ = io.Copy(stdin, ch); _ = stdin.Close() }()
			if err := cmd.Run(); err == nil {
				code = 0
			}
		}
	}
	_, _ = ch.SendRequest("exit-status", false, ssh.Marshal(struct{ Status uint32 }{code}))
}

func (s *sshServer) url(host, repoPath string) string {
	_, port, _ := net.SplitHostPort(s.addr)
	return fmt.Sprintf("ssh://git@%s/%s", net.JoinHostPort(host, port), strings.TrimPrefix(repoPath, "/"))
}

func (s *sshServer) auth() transport.AuthMethod {
	return &gitssh.PublicKeys{User: "git", Signer: s.client,
		HostKeyCallbackHelper: gitssh.HostKeyCallbackHelper{HostKeyCallback: ssh.FixedHostKey(s.hostKey)}}
}

// TestSSHCloneThroughOwnTransport: clone, push and fetch over SSH go through
// the transport SetRemotePolicy installs (policy dialer, download budget):
// allowed under a policy that allows loopback, refused under one that does
// not, and a clone past --max-fetch-size fails with ErrFetchTooLarge and
// leaves nothing behind.
func TestSSHCloneThroughOwnTransport(t *testing.T) {
	rm := newRemote(t)
	rm.humanCommit(t, "main", map[string]string{"a.yaml": "a: 1\n"}, "seed")
	srv := startSSHServer(t)
	url := srv.url("127.0.0.1", rm.path)
	ctx := testCtx(t)
	defer gitpkg.SetRemotePolicy(gitpkg.AllowAll)
	defer gitpkg.SetMaxFetchSize(gitpkg.MaxFetchSize())

	gitpkg.SetRemotePolicy(gitpkg.RemotePolicy{AllowLoopback: true})
	dir := filepath.Join(t.TempDir(), "clone")
	r, err := gitpkg.Open(ctx, gitpkg.Options{URL: url, Branch: "main", Dir: dir, Auth: srv.auth()})
	if err != nil {
		t.Fatalf("Open over SSH: %v", err)
	}
	defer r.Close()
	equal(t, r.Head().String(), rm.git(t, "rev-parse", "main"), "Head")
	res, err := r.CommitAndPush(ctx, []gitpkg.Change{put("b.yaml", "b: 2\n")}, "over ssh")
	if err != nil || !res.Pushed {
		t.Fatalf("push over SSH: %+v %v", res, err)
	}
	equal(t, rm.git(t, "rev-parse", "main"), res.Hash.String(), "server main")
	human := rm.humanCommit(t, "main", map[string]string{"c.yaml": "c: 3\n"}, "human")
	if err := r.Fetch(ctx); err != nil {
		t.Fatal(err)
	}
	equal(t, r.Head().String(), human, "Head after fetch")

	// Past the limit: refused, nothing left behind.
	rm.humanCommit(t, "main", map[string]string{"big.bin": string(randomBytes(t, 1<<20))}, "big")
	gitpkg.SetMaxFetchSize(256 << 10)
	parent := t.TempDir()
	_, err = gitpkg.Open(ctx, gitpkg.Options{URL: url, Branch: "main", Dir: filepath.Join(parent, "clone"), Auth: srv.auth()})
	if !errors.Is(err, gitpkg.ErrFetchTooLarge) {
		t.Fatalf("clone past the limit over SSH: %v, want ErrFetchTooLarge", err)
	}
	equal(t, gitpkg.Describe(err), "the repository is larger than the server's limit (--max-fetch-size=256Ki)", "Describe")
	if entries, _ := os.ReadDir(parent); len(entries) != 0 {
		t.Errorf("a failed clone left %v", entries)
	}
	if err := r.Fetch(ctx); !errors.Is(err, gitpkg.ErrFetchTooLarge) {
		t.Fatalf("fetch past the limit over SSH: %v", err)
	}
	assertNoTempPacks(t, dir)
	gitpkg.SetMaxFetchSize(gitpkg.DefaultMaxFetchSize)
	if err := r.Fetch(ctx); err != nil {
		t.Fatalf("fetch under the limit after one past it: %v", err)
	}

	// Loopback not allowed: the dial is refused.
	gitpkg.SetRemotePolicy(gitpkg.RemotePolicy{})
	before := srv.conns.Load()
	if _, err := gitpkg.LsRemote(ctx, url, srv.auth()); !errors.Is(err, gitpkg.ErrRemoteRefused) {
		t.Fatalf("loopback SSH remote: %v, want refused", err)
	}
	if err := r.Fetch(ctx); !errors.Is(err, gitpkg.ErrRemoteRefused) {
		t.Fatalf("fetch from a loopback SSH remote: %v, want refused", err)
	}
	if n := srv.conns.Load() - before; n != 0 {
		t.Errorf("%d connections reached the server", n)
	}
}

// countingListener counts the connections made to it (and closes them).
func countingListener(t *testing.T, ip string) (net.Listener, *atomic.Int32) {
	t.Helper()
	l, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	var n atomic.Int32
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			n.Add(1)
			_ = c.Close()
		}
	}()
	return l, &n
}

func port(l net.Listener) string { return fmt.Sprint(l.Addr().(*net.TCPAddr).Port) }

// TestSSHDialChecksTheAddressDialed: an SSH host name is resolved once, at
// the dial, and the address checked is the address dialed: a name resolving
// to loopback is refused under a restricting policy although it is not a
// literal, and a name whose next resolution would be loopback (DNS
// rebinding) is dialed at the allowed address it was checked at.
func TestSSHDialChecksTheAddressDialed(t *testing.T) {
	defer gitpkg.SetRemotePolicy(gitpkg.AllowAll)
	loop, loopConns := countingListener(t, "127.0.0.1")
	ip := nonLoopbackIP(t)
	other, otherConns := countingListener(t, ip.String())
	var rebindLookups atomic.Int32
	defer gitpkg.SetLookupIP(func(ctx context.Context, network, host string) ([]net.IP, error) {
		switch host {
		case "loopback.test":
			return []net.IP{net.ParseIP("127.0.0.1")}, nil
		case "rebind.test":
			if rebindLookups.Add(1) == 1 {
				return []net.IP{ip}, nil
			}
			return []net.IP{net.ParseIP("127.0.0.1")}, nil
		}
		return net.DefaultResolver.LookupIP(ctx, network, host)
	})()
	auth := &gitssh.PublicKeys{User: "git", Signer: newSigner(t),
		HostKeyCallbackHelper: gitssh.HostKeyCallbackHelper{HostKeyCallback: ssh.InsecureIgnoreHostKey()}}
	ctx := testCtx(t)

	gitpkg.SetRemotePolicy(gitpkg.RemotePolicy{})
	for _, url := range []string{
		"ssh://git@loopback.test:" + port(loop) + "/r.git",
		"ssh://git@localhost.:" + port(loop) + "/r.git",
		"git@loopback.test:r.git",
	} {
		_, err := gitpkg.LsRemote(ctx, url, auth)
		if !errors.Is(err, gitpkg.ErrRemoteRefused) || !strings.Contains(gitpkg.Describe(err), "loopback") {
			t.Errorf("%s: %v (%q), want refused as loopback", url, err, gitpkg.Describe(err))
		}
		_, err = gitpkg.Open(ctx, gitpkg.Options{URL: url, Branch: "main", Dir: filepath.Join(t.TempDir(), "c"), Auth: auth})
		if !errors.Is(err, gitpkg.ErrRemoteRefused) {
			t.Errorf("Open %s: %v, want refused", url, err)
		}
	}
	if n := loopConns.Load(); n != 0 {
		t.Errorf("%d connections reached the loopback listener", n)
	}

	// Rebinding: one resolution, and the dial goes where it pointed.
	_, err := gitpkg.LsRemote(ctx, "ssh://git@rebind.test:"+port(other)+"/r.git", auth)
	if errors.Is(err, gitpkg.ErrRemoteRefused) {
		t.Fatalf("rebind.test refused at its first (allowed) address: %v", err)
	}
	if rebindLookups.Load() != 1 || otherConns.Load() != 1 || loopConns.Load() != 0 {
		t.Errorf("lookups %d, connections to the checked address %d, to loopback %d; want 1, 1, 0",
			rebindLookups.Load(), otherConns.Load(), loopConns.Load())
	}

	// Allowed, the same name reaches loopback: the dial is ours either way.
	gitpkg.SetRemotePolicy(gitpkg.RemotePolicy{AllowLoopback: true})
	if _, err := gitpkg.LsRemote(ctx, "ssh://git@loopback.test:"+port(loop)+"/r.git", auth); errors.Is(err, gitpkg.ErrRemoteRefused) {
		t.Fatalf("loopback allowed: %v", err)
	}
	if n := loopConns.Load(); n != 1 {
		t.Errorf("%d connections reached the loopback listener, want 1", n)
	}
}

const sshProxyChildEnv = "GITOPS_REVERSER_TEST_SSH_PROXY_CHILD"

// TestSSHIgnoresEnvironmentProxy: with ALL_PROXY set (read once per process,
// so in a child process started with it), an SSH remote is dialed directly, or
// refused by the policy, never through the proxy. The control: go-git's own
// SSH client does dial the proxy.
func TestSSHIgnoresEnvironmentProxy(t *testing.T) {
	if mode := os.Getenv(sshProxyChildEnv); mode != "" {
		sshProxyChild(t, mode)
		return
	}
	proxyL, proxyConns := countingListener(t, "127.0.0.1")
	target, targetConns := countingListener(t, "127.0.0.1")
	run := func(mode string) {
		t.Helper()
		cmd := exec.Command(os.Args[0], "-test.run=^TestSSHIgnoresEnvironmentProxy$", "-test.count=1")
		cmd.Env = append(os.Environ(),
			sshProxyChildEnv+"="+mode+","+target.Addr().String(),
			"ALL_PROXY=socks5://"+proxyL.Addr().String(), "all_proxy=", "NO_PROXY=", "no_proxy=")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("child %s: %v\n%s", mode, err, out)
		}
	}
	run("ours")
	if p, d := proxyConns.Load(), targetConns.Load(); p != 0 || d != 1 {
		t.Errorf("our transport: %d connections to the proxy, %d to the remote; want 0, 1", p, d)
	}
	run("go-git")
	if p := proxyConns.Load(); p != 1 {
		t.Logf("control: go-git's own SSH client made %d connections to ALL_PROXY (expected 1); the test may no longer show anything", p)
	}
}

func sshProxyChild(t *testing.T, arg string) {
	mode, addr, _ := strings.Cut(arg, ",")
	auth := &gitssh.PublicKeys{User: "git", Signer: newSigner(t),
		HostKeyCallbackHelper: gitssh.HostKeyCallbackHelper{HostKeyCallback: ssh.InsecureIgnoreHostKey()}}
	url := "ssh://git@" + addr + "/r.git"
	ctx := testCtx(t)
	switch mode {
	case "ours":
		gitpkg.SetRemotePolicy(gitpkg.RemotePolicy{AllowLoopback: true})
		if _, err := gitpkg.LsRemote(ctx, url, auth); err == nil || errors.Is(err, gitpkg.ErrRemoteRefused) {
			t.Fatalf("allowed: %v, want a failed handshake", err)
		}
		gitpkg.SetRemotePolicy(gitpkg.RemotePolicy{})
		if _, err := gitpkg.LsRemote(ctx, url, auth); !errors.Is(err, gitpkg.ErrRemoteRefused) {
			t.Fatalf("restricted: %v, want refused", err)
		}
	case "go-git":
		ep, err := transport.NewEndpoint(url)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = gitssh.DefaultClient.NewUploadPackSession(ep, auth)
	}
}

func randomBytes(t testing.TB, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// assertNoTempPacks: no half-written pack is left in a clone.
func assertNoTempPacks(t testing.TB, dir string) {
	t.Helper()
	tmp, _ := filepath.Glob(filepath.Join(dir, "objects", "pack", "tmp_*"))
	if len(tmp) != 0 {
		t.Errorf("temporary packs left in the clone: %v", tmp)
	}
}
