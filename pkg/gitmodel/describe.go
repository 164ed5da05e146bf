package gitmodel

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/transport"
)

// Describe says why a remote could not be reached, and no more: the kind of
// failure, never what the remote sent back. A remote's URL is a tenant's input
// and its answer lands in status, which that tenant reads; go-git puts an
// HTTP error response's body into its errors, so echoing them would let a
// tenant read any HTTP service the server can reach (a metadata endpoint, an
// internal API). The full error belongs in the server's log only.
func Describe(err error) string {
	// Classify by the original error; nothing of it is returned.
	err = unredacted(err)
	// go-git wraps HTTP errors without an Unwrap method.
	var unexpected *plumbing.UnexpectedError
	if errors.As(err, &unexpected) && unexpected.Err != nil {
		err = unexpected.Err
	}
	var (
		tooLarge *FetchTooLargeError
		objLarge *ObjectTooLargeError
		refusal  *RemoteRefusal
		dnsErr   *net.DNSError
		unknown  x509.UnknownAuthorityError
		invalid  x509.CertificateInvalidError
		host     x509.HostnameError
	)
	status, isHTTP := httpStatus(err)
	switch {
	case err == nil:
		return ""
	case errors.Is(err, ErrRemoteRefused):
		// Our own policy's words (they name the address the URL resolved to).
		msg := err.Error()
		if i := strings.Index(msg, ErrRemoteRefused.Error()); i >= 0 {
			msg = msg[i:]
		}
		return msg
	case errors.As(err, &tooLarge):
		return tooLarge.Error() // ours: names the limit, nothing of the remote's
	case errors.Is(err, ErrFetchTooLarge):
		return ErrFetchTooLarge.Error() + " (--max-fetch-size)"
	case errors.As(err, &objLarge):
		return objLarge.Error() // ours: sizes the remote declared, the limit
	case errors.Is(err, ErrObjectTooLarge):
		return ErrObjectTooLarge.Error()
	case errors.As(err, &refusal):
		return "the remote refused the push: " + truncate(refusal.Msg, 300)
	case errors.Is(err, ErrPushRejected):
		return "the branch kept moving: the push was rejected, replayed and rejected again"
	case errors.Is(err, ErrInvalidChange):
		return truncate(err.Error(), 300) // ours: a path the git engine refuses
	case errors.Is(err, transport.ErrAuthenticationRequired):
		return "authentication required: the remote refused the credentials"
	case errors.Is(err, transport.ErrAuthorizationFailed):
		return "authorization failed: the credentials may not access the repository"
	case errors.Is(err, transport.ErrRepositoryNotFound):
		return "repository not found"
	case isHTTP:
		return fmt.Sprintf("the remote answered HTTP %d", status)
	case errors.As(err, &dnsErr):
		return "the host name does not resolve"
	case inChain(err, connectionRefused):
		return "connection refused"
	case errors.Is(err, context.DeadlineExceeded) || isTimeout(err):
		return "timed out"
	case inChain(err, hostUnreachable) || inChain(err, networkUnreachable):
		return "no route to the host"
	case errors.As(err, &unknown) || errors.As(err, &invalid) || errors.As(err, &host) || strings.Contains(err.Error(), "x509:") || strings.Contains(err.Error(), "tls:"):
		return "TLS handshake failed (certificate not trusted or not for this host)"
	case strings.Contains(err.Error(), "ssh: handshake failed"):
		return "SSH handshake failed (host key or credentials not accepted)"
	case strings.Contains(err.Error(), "unexpected client error") || strings.Contains(err.Error(), "unexpected requesting"):
		return "the remote did not answer as a Git server"
	}
	return "the remote did not answer as a Git server"
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// FailureReason sorts a failed push into a bounded set, for metrics:
// policy, too_large (past --max-fetch-size, or an object past the object size
// bound), credentials, refused (the remote's Git said no, or the branch kept
// moving), unreachable, other.
func FailureReason(err error) string {
	err = unredacted(err)
	var refusal *RemoteRefusal
	var dnsErr *net.DNSError
	switch {
	case errors.Is(err, ErrRemoteRefused):
		return "policy"
	case errors.Is(err, ErrFetchTooLarge), errors.Is(err, ErrObjectTooLarge):
		return "too_large"
	case errors.Is(err, transport.ErrAuthenticationRequired), errors.Is(err, transport.ErrAuthorizationFailed):
		return "credentials"
	case errors.As(err, &refusal), errors.Is(err, ErrPushRejected):
		return "refused"
	case errors.As(err, &dnsErr), inChain(err, connectionRefused), inChain(err, hostUnreachable),
		inChain(err, networkUnreachable), errors.Is(err, context.DeadlineExceeded), isTimeout(err):
		return "unreachable"
	}
	return "other"
}
