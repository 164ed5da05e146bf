package gitmodel

import (
	"errors"
	"syscall"
)

// Errors of the operating system and of go-git's HTTP transport, recognised
// without importing what produces them (os, go-git's HTTP client): this
// package does no I/O. An I/O deadline (os.ErrDeadlineExceeded) is a
// timeout by its Timeout method (isTimeout).

// The system call errors a description names: matched with errors.Is (the
// error numbers are values, importing them does no I/O).
func errnoIs(target syscall.Errno) func(error) bool {
	return func(err error) bool { return errors.Is(err, target) }
}

var (
	connectionRefused  = errnoIs(syscall.ECONNREFUSED)
	hostUnreachable    = errnoIs(syscall.EHOSTUNREACH)
	networkUnreachable = errnoIs(syscall.ENETUNREACH)
)

// inChain reports whether match holds for err or an error it wraps: the
// errors errors.Is visits (it compares them with ==; syscall.Errno and
// os.ErrDeadlineExceeded have no other value that compares equal).
func inChain(err error, match func(error) bool) bool {
	for err != nil {
		if match(err) {
			return true
		}
		switch u := err.(type) {
		case interface{ Unwrap() error }:
			err = u.Unwrap()
		case interface{ Unwrap() []error }:
			for _, e := range u.Unwrap() {
				if inChain(e, match) {
					return true
				}
			}
			return false
		default:
			return false
		}
	}
	return false
}

// statusCoder is go-git's *http.Err: an HTTP response that was not a Git
// server's answer.
type statusCoder interface {
	error
	StatusCode() int
}

// httpStatus returns the status of the HTTP response err holds, if any. An
// *http.Err reads it from its Response, which one made by hand may lack.
func httpStatus(err error) (code int, ok bool) {
	var sc statusCoder
	if !errors.As(err, &sc) {
		return 0, false
	}
	defer func() {
		if recover() != nil {
			code, ok = 0, false
		}
	}()
	return sc.StatusCode(), true
}
