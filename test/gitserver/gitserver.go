// Package gitserver runs a small Git smart-HTTP server for tests and local
// development. It serves bare repositories stored under a root directory
// through the real `git http-backend` (via net/http/cgi), protected by HTTP
// basic authentication. Push (receive-pack) is enabled in every repository
// created with CreateBareRepo.
//
// Test usage:
//
//	srv := gitserver.StartT(t, gitserver.Options{Username: "u", Password: "p"})
//	if _, err := srv.CreateBareRepo("demo"); err != nil { ... }
//	url := srv.URL("demo") // http://127.0.0.1:PORT/demo.git
//
// Program usage (e.g. a dev stack):
//
//	srv, err := gitserver.New(gitserver.Options{Addr: ":8080", Root: "/srv/git", ...})
//	...
//	defer srv.Close()
//	err = srv.Serve() // blocks until Close
//
// The package does not import "testing"; StartT accepts any value with the
// Helper/Fatalf/Cleanup methods, which testing.TB satisfies.
package gitserver

import (
	"bytes"
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cgi"
	"net/url"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Options configures a Server. Username and Password are required.
type Options struct {
	// Username and Password are the only credentials accepted (HTTP basic auth).
	Username string
	Password string
	// Addr is the TCP listen address. Default "127.0.0.1:0" (a free port).
	Addr string
	// Root is the directory holding the bare repositories. If empty, a
	// temporary directory is created and removed by Close.
	Root string
	// GitPath is the git executable. Default: "git" looked up in PATH.
	GitPath string
	// Logf, if set, receives one line per request and git-http-backend errors.
	Logf func(format string, args ...any)
	// OnRequest, if set, is called for every authenticated request before
	// git http-backend runs. Tests use it to inject races (e.g. push a
	// concurrent commit when a receive-pack POST arrives). It may block.
	OnRequest func(r *http.Request)
}

// Server is a running (or ready to run) Git smart-HTTP server.
type Server struct {
	opts        Options
	gitPath     string
	backendPath string
	root        string
	ownsRoot    bool
	listener    net.Listener
	httpServer  *http.Server
	baseURL     string

	closeOnce sync.Once
	closeErr  error
	requests  requests
}

// New validates the options, prepares the root directory and binds the
// listener, but does not serve yet; call Serve (blocking) or Start.
func New(opts Options) (*Server, error) {
	if opts.Username == "" || opts.Password == "" {
		return nil, errors.New("gitserver: Username and Password are required")
	}
	if strings.Contains(opts.Username, ":") {
		return nil, errors.New("gitserver: Username must not contain ':'")
	}
	gitPath := opts.GitPath
	if gitPath == "" {
		gitPath = "git"
	}
	gitPath, err := exec.LookPath(gitPath)
	if err != nil {
		return nil, fmt.Errorf("gitserver: git executable not found: %w", err)
	}
	out, err := exec.Command(gitPath, "--exec-path").Output()
	if err != nil {
		return nil, fmt.Errorf("gitserver: git --exec-path: %w", err)
	}
	backend := filepath.Join(strings.TrimSpace(string(out)), "git-http-backend")
	if _, err := os.Stat(backend); err != nil {
		return nil, fmt.Errorf("gitserver: git-http-backend not found: %w", err)
	}

	s := &Server{opts: opts, gitPath: gitPath, backendPath: backend}
	if opts.Root == "" {
		dir, err := os.MkdirTemp("", "gitserver-*")
		if err != nil {
			return nil, fmt.Errorf("gitserver: %w", err)
		}
		s.root, s.ownsRoot = dir, true
	} else {
		abs, err := filepath.Abs(opts.Root)
		if err != nil {
			return nil, fmt.Errorf("gitserver: %w", err)
		}
		if err := os.MkdirAll(abs, 0o755); err != nil {
			return nil, fmt.Errorf("gitserver: %w", err)
		}
		s.root = abs
	}

	addr := opts.Addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		s.removeRoot()
		return nil, fmt.Errorf("gitserver: listen %s: %w", addr, err)
	}
	s.listener = ln
	host := ln.Addr().String()
	if tcp, ok := ln.Addr().(*net.TCPAddr); ok && tcp.IP.IsUnspecified() {
		host = net.JoinHostPort("127.0.0.1", fmt.Sprint(tcp.Port))
	}
	s.baseURL = "http://" + host
	s.httpServer = &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 30 * time.Second,
	}
	return s, nil
}

// Start is New followed by serving in a background goroutine.
func Start(opts Options) (*Server, error) {
	s, err := New(opts)
	if err != nil {
		return nil, err
	}
	go func() { _ = s.Serve() }()
	return s, nil
}

// TB is the subset of testing.TB used by StartT.
type TB interface {
	Helper()
	Fatalf(format string, args ...any)
	Cleanup(func())
}

// StartT starts a server for a test and closes it in t.Cleanup. It fails the
// test immediately if the server cannot start.
func StartT(t TB, opts Options) *Server {
	t.Helper()
	s, err := Start(opts)
	if err != nil {
		t.Fatalf("start git server: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// Serve serves HTTP on the listener until Close is called. It returns nil
// after a Close.
func (s *Server) Serve() error {
	err := s.httpServer.Serve(s.listener)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Close stops the server and removes the root directory if it was created by
// New. It is safe to call more than once.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.httpServer.Shutdown(ctx); err != nil {
			_ = s.httpServer.Close()
		}
		// Shutdown does not close a listener that Serve never used.
		_ = s.listener.Close()
		s.closeErr = s.removeRoot()
	})
	return s.closeErr
}

func (s *Server) removeRoot() error {
	if s.ownsRoot {
		return os.RemoveAll(s.root)
	}
	return nil
}

// BaseURL returns "http://127.0.0.1:PORT" (no trailing slash).
func (s *Server) BaseURL() string { return s.baseURL }

// Root returns the directory holding the bare repositories.
func (s *Server) Root() string { return s.root }

// Addr returns the listener address.
func (s *Server) Addr() net.Addr { return s.listener.Addr() }

// URL returns the clone URL of repository name, without credentials, e.g.
// http://127.0.0.1:PORT/name.git.
func (s *Server) URL(name string) string {
	return s.baseURL + "/" + repoDirName(name)
}

// URLWithCredentials returns URL(name) with the server's username and
// password embedded in the userinfo.
func (s *Server) URLWithCredentials(name string) string {
	u, err := url.Parse(s.URL(name))
	if err != nil {
		return s.URL(name)
	}
	u.User = url.UserPassword(s.opts.Username, s.opts.Password)
	return u.String()
}

// RepoPath returns the on-disk path of the bare repository name.
func (s *Server) RepoPath(name string) string {
	return filepath.Join(s.root, filepath.FromSlash(repoDirName(name)))
}

// CreateBareRepo runs `git init --bare -b main` for name (a ".git" suffix is
// added if missing; "org/repo" nesting is allowed), enables
// http.receivepack and returns the repository's path on disk.
func (s *Server) CreateBareRepo(name string) (string, error) {
	if err := validateRepoName(name); err != nil {
		return "", err
	}
	dir := s.RepoPath(name)
	if _, err := os.Stat(dir); err == nil {
		return "", fmt.Errorf("gitserver: repository %q already exists", name)
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return "", fmt.Errorf("gitserver: %w", err)
	}
	if out, err := s.git("init", "--bare", "--quiet", "-b", "main", dir); err != nil {
		return "", fmt.Errorf("gitserver: git init: %w: %s", err, out)
	}
	if out, err := s.git("-C", dir, "config", "http.receivepack", "true"); err != nil {
		return "", fmt.Errorf("gitserver: git config: %w: %s", err, out)
	}
	return dir, nil
}

func (s *Server) git(args ...string) ([]byte, error) {
	cmd := exec.Command(s.gitPath, args...)
	cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL="+os.DevNull)
	return cmd.CombinedOutput()
}

func repoDirName(name string) string {
	name = strings.Trim(name, "/")
	if !strings.HasSuffix(name, ".git") {
		name += ".git"
	}
	return name
}

func validateRepoName(name string) error {
	n := strings.Trim(name, "/")
	if n == "" || path.Clean(n) != n || strings.HasPrefix(n, "../") || n == ".." ||
		strings.ContainsAny(n, "\\\x00") {
		return fmt.Errorf("gitserver: invalid repository name %q", name)
	}
	for _, seg := range strings.Split(n, "/") {
		if seg == "." || seg == ".." || strings.HasPrefix(seg, ".") {
			return fmt.Errorf("gitserver: invalid repository name %q", name)
		}
	}
	return nil
}

// ServeHTTP authenticates the request and hands it to git http-backend.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	user, pass, ok := r.BasicAuth()
	if !ok ||
		subtle.ConstantTimeCompare([]byte(user), []byte(s.opts.Username)) != 1 ||
		subtle.ConstantTimeCompare([]byte(pass), []byte(s.opts.Password)) != 1 {
		s.logf("gitserver: %s %s -> 401", r.Method, r.URL.Path)
		w.Header().Set("WWW-Authenticate", `Basic realm="gitserver", charset="UTF-8"`)
		http.Error(w, "authentication required", http.StatusUnauthorized)
		return
	}

	// net/http/cgi refuses chunked request bodies, but the git CLI streams
	// large pushes with Transfer-Encoding: chunked. Spool such bodies so the
	// CGI gets a CONTENT_LENGTH.
	if len(r.TransferEncoding) > 0 {
		cleanup, err := spoolBody(r)
		if cleanup != nil {
			defer cleanup()
		}
		if err != nil {
			s.logf("gitserver: spool request body: %v", err)
			http.Error(w, "cannot read request body", http.StatusBadRequest)
			return
		}
	}

	s.requests.note(r)
	if s.opts.OnRequest != nil {
		s.opts.OnRequest(r)
	}

	var stderr bytes.Buffer
	h := &cgi.Handler{
		Path: s.backendPath,
		Dir:  s.root,
		Env: []string{
			"GIT_PROJECT_ROOT=" + s.root,
			"GIT_HTTP_EXPORT_ALL=1",
			"REMOTE_USER=" + user,
			"GIT_CONFIG_NOSYSTEM=1",
			"GIT_CONFIG_GLOBAL=" + os.DevNull,
			"HOME=" + s.root,
		},
		Stderr: &stderr,
	}
	h.ServeHTTP(w, r)
	s.logf("gitserver: %s %s?%s", r.Method, r.URL.Path, r.URL.RawQuery)
	if stderr.Len() > 0 {
		s.logf("gitserver: git-http-backend: %s", strings.TrimSpace(stderr.String()))
	}
}

func spoolBody(r *http.Request) (func(), error) {
	f, err := os.CreateTemp("", "gitserver-body-*")
	if err != nil {
		return nil, err
	}
	cleanup := func() {
		_ = f.Close()
		_ = os.Remove(f.Name())
	}
	n, err := io.Copy(f, r.Body)
	if err != nil {
		return cleanup, err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return cleanup, err
	}
	_ = r.Body.Close()
	r.Body = f
	r.ContentLength = n
	r.TransferEncoding = nil
	r.Header.Del("Transfer-Encoding")
	return cleanup, nil
}

func (s *Server) logf(format string, args ...any) {
	if s.opts.Logf != nil {
		s.opts.Logf(format, args...)
	}
}
