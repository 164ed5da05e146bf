package git

import (
	"errors"
	"strings"
)

var (
	// ErrPushRejected is returned (wrapped) by CommitAndPush when the remote
	// branch kept moving and the bounded number of replay attempts ran out.
	ErrPushRejected = errors.New("push rejected: remote branch moved")
	// ErrInvalidChange is returned (wrapped) for an invalid change set: a bad
	// path, or a change that would replace a directory by a file (or a file
	// by a directory) in the tree it is applied to.
	ErrInvalidChange = errors.New("invalid change")
)

// RemoteRefusal is the remote's own refusal of a push, from its Git protocol
// report (a hook that declined, a protected branch). Only a Git server can
// send it, so its words are safe to show (see Describe).
type RemoteRefusal struct{ Msg string }

func (e *RemoteRefusal) Error() string { return e.Msg }

// minSecretLen is the shortest secret value that is scrubbed literally from
// error messages; shorter values would mangle unrelated text.
const minSecretLen = 4

// redactedError carries a scrubbed message. It deliberately has no Unwrap
// method, so the original (possibly credential-bearing) error cannot be
// reached and printed, but errors.Is still matches sentinels such as
// transport.ErrAuthenticationRequired through the Is method.
type redactedError struct {
	msg   string
	inner error
}

func (e *redactedError) Error() string { return e.msg }

func (e *redactedError) Is(target error) bool { return errors.Is(e.inner, target) }

// redactErr scrubs URL user info (see Redact) and the given secret values
// from err's message.
func redactErr(err error, secrets []string) error {
	if err == nil {
		return nil
	}
	var already *redactedError
	if errors.As(err, &already) && already == err {
		return err
	}
	msg := scrub(err.Error(), secrets)
	return &redactedError{msg: msg, inner: err}
}

func scrub(msg string, secrets []string) string {
	msg = Redact(msg)
	for _, s := range secrets {
		if len(s) >= minSecretLen {
			msg = strings.ReplaceAll(msg, s, "***")
		}
	}
	return msg
}
