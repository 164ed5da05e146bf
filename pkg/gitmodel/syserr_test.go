package gitmodel

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"syscall"
	"testing"

	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
)

// TestDeadlineIsATimeout: an I/O deadline, however wrapped, is a timeout;
// a context's deadline and a message that only says so are not (the first
// is named on its own by Describe).
func TestDeadlineIsATimeout(t *testing.T) {
	for _, err := range []error{os.ErrDeadlineExceeded, fmt.Errorf("read: %w", os.ErrDeadlineExceeded),
		&net.OpError{Op: "read", Err: os.ErrDeadlineExceeded}} {
		if !isTimeout(err) {
			t.Errorf("%v: not recognised", err)
		}
	}
	if isTimeout(errors.New("i/o timeout")) {
		t.Error("a message is not a timeout")
	}
}

// TestInChainWalksJoinedErrors: like errors.Is, through Unwrap() []error.
func TestInChainWalksJoinedErrors(t *testing.T) {
	err := fmt.Errorf("push: %w", errors.Join(errors.New("a"), fmt.Errorf("b: %w", syscall.ECONNREFUSED)))
	if !inChain(err, connectionRefused) || inChain(err, hostUnreachable) {
		t.Errorf("%v", err)
	}
}

func TestHTTPStatus(t *testing.T) {
	resp := &http.Response{StatusCode: 502, Request: &http.Request{}}
	if code, ok := httpStatus(fmt.Errorf("ls-remote: %w", &githttp.Err{Response: resp})); !ok || code != 502 {
		t.Errorf("got %d %v", code, ok)
	}
	if _, ok := httpStatus(&githttp.Err{}); ok {
		t.Error("an Err without a response has a status")
	}
	if _, ok := httpStatus(errors.New("x")); ok {
		t.Error("a plain error has a status")
	}
}
