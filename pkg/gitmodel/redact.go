package gitmodel

import (
	"errors"
	"strings"
)

// minSecretLen is the shortest secret value that is scrubbed literally from
// error messages; shorter values would mangle unrelated text.
const minSecretLen = 4

// redactedError carries a scrubbed message. It deliberately has no Unwrap
// method, so the original (possibly credential-bearing) error cannot be
// reached and printed, but errors.Is still matches sentinels such as
// transport.ErrAuthenticationRequired through the Is method, and Describe and
// FailureReason classify by the original.
type redactedError struct {
	msg   string
	inner error
}

func (e *redactedError) Error() string { return e.msg }

func (e *redactedError) Is(target error) bool { return errors.Is(e.inner, target) }

// RedactError returns err with URL user info (see Redact) and the given
// secret values scrubbed from its message; nil for nil, err itself when it is
// already such an error.
func RedactError(err error, secrets []string) error {
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

// unredacted returns the original error under the redacted ones of err: what
// Describe and FailureReason classify (nothing of it is returned).
func unredacted(err error) error {
	var red *redactedError
	for errors.As(err, &red) && red.inner != nil && red.inner != err {
		err = red.inner
	}
	return err
}
