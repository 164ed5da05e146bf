package gitmodel

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
)

// TestDescribe: each kind of failure, as it comes and as the git engine
// returns it (redacted, wrapped): its description and its metrics reason.
func TestDescribe(t *testing.T) {
	body := "INTERNAL-API-BODY"
	for _, c := range []struct {
		err           error
		want, wantWhy string
	}{
		{fmt.Errorf("git: %w: host %q is this machine", ErrRemoteRefused, "localhost"),
			`remote refused by the server's policy: host "localhost" is this machine`, "policy"},
		{&FetchTooLargeError{Limit: 512 << 10}, "the repository is larger than the server's limit (--max-fetch-size=512Ki)", "too_large"},
		{&ObjectTooLargeError{What: "blob", Size: 100 << 20, Limit: 64 << 20},
			"an object of the repository is larger than the server's limit: a blob of 100 MiB inflated, the limit is 64Mi", "too_large"},
		{fmt.Errorf("git: push main: %w", &RemoteRefusal{Msg: "pre-receive hook declined"}),
			"the remote refused the push: pre-receive hook declined", "refused"},
		{fmt.Errorf("git: push main: gave up after 5 attempts: %w", ErrPushRejected),
			"the branch kept moving: the push was rejected, replayed and rejected again", "refused"},
		{fmt.Errorf("authentication required: %w: %s", transport.ErrAuthenticationRequired, body),
			"authentication required: the remote refused the credentials", "credentials"},
		{fmt.Errorf("%w: %s", transport.ErrRepositoryNotFound, body), "repository not found", "other"},
		{plumbing.NewUnexpectedError(&githttp.Err{Response: &http.Response{StatusCode: 500, Request: &http.Request{URL: &url.URL{Scheme: "https", Host: "internal"}}}, Reason: body}),
			"the remote answered HTTP 500", "other"},
		{&net.DNSError{Err: "no such host", Name: "does-not-exist.invalid", IsNotFound: true}, "the host name does not resolve", "unreachable"},
		{fmt.Errorf("dial tcp: %w", syscall.ECONNREFUSED), "connection refused", "unreachable"},
		{&net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.EHOSTUNREACH)}, "no route to the host", "unreachable"},
		{&net.OpError{Op: "read", Net: "tcp", Err: os.ErrDeadlineExceeded}, "timed out", "unreachable"},
		{context.DeadlineExceeded, "timed out", "unreachable"},
		{errors.New("x509: certificate signed by unknown authority"), "TLS handshake failed (certificate not trusted or not for this host)", "other"},
		{errors.New("ssh: handshake failed: knownhosts: key mismatch"), "SSH handshake failed (host key or credentials not accepted)", "other"},
		{errors.New(body), "the remote did not answer as a Git server", "other"},
	} {
		for _, err := range []error{c.err, RedactError(c.err, []string{"SECRET"}),
			fmt.Errorf("git: fetch https://***@example.com/r.git branch main: %w", RedactError(c.err, nil))} {
			if got := Describe(err); got != c.want {
				t.Errorf("Describe(%v) = %q, want %q", err, got, c.want)
			}
			if got := FailureReason(err); got != c.wantWhy {
				t.Errorf("FailureReason(%v) = %q, want %q", err, got, c.wantWhy)
			}
		}
	}
	if Describe(nil) != "" {
		t.Error("nil")
	}
}

// TestRedactError: credentials leave the message, the original stays
// classifiable, and redacting twice is once.
func TestRedactError(t *testing.T) {
	inner := fmt.Errorf("fetch https://user:hunter22@example.com/r.git with token tok-1234: %w", transport.ErrAuthorizationFailed)
	err := RedactError(inner, []string{"tok-1234", "abc"})
	if msg := err.Error(); strings.Contains(msg, "hunter22") || strings.Contains(msg, "tok-1234") || !strings.Contains(msg, "https://***@example.com") {
		t.Errorf("not redacted: %s", msg)
	}
	if !errors.Is(err, transport.ErrAuthorizationFailed) || errors.Unwrap(err) != nil {
		t.Errorf("errors.Is lost, or the original reachable: %v", err)
	}
	if RedactError(err, nil) != err || RedactError(nil, nil) != nil {
		t.Error("redacted twice")
	}
}

func TestRemoteURLSecrets(t *testing.T) {
	for raw, want := range map[string]string{
		"https://TOKEN@host/r.git":     "TOKEN",
		"https://user:pass@host/r.git": "pass,user",
		"ssh://git@host/r.git":         "",
		"git:secret@host:org/r.git":    "secret",
		"https://host/r.git":           "",
		"/srv/git/r.git":               "",
	} {
		u, err := ParseRemoteURL(raw)
		if err != nil {
			t.Fatalf("%s: %v", raw, err)
		}
		if got := strings.Join(u.Secrets(), ","); got != want {
			t.Errorf("%s: secrets %q, want %q", raw, got, want)
		}
	}
}
