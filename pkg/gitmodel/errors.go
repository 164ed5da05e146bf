package gitmodel

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// The errors of the git engine (pkg/git) that its callers tell apart.

var (
	// ErrPushRejected is returned (wrapped) by a commit and push when the
	// remote branch kept moving and the bounded number of replay attempts
	// ran out.
	ErrPushRejected = errors.New("push rejected: remote branch moved")

	// ErrRemoteRefused is wrapped by every refusal of the remote policy.
	ErrRemoteRefused = errors.New("remote refused by the server's policy")

	// ErrFetchTooLarge is wrapped by the error of an operation that would
	// have downloaded more than the server's --max-fetch-size.
	ErrFetchTooLarge = errors.New("the repository is larger than the server's limit")

	// ErrObjectTooLarge is wrapped by the error of a clone or fetch that
	// received an object larger than the server's bound once inflated.
	ErrObjectTooLarge = errors.New("an object of the repository is larger than the server's limit")
)

// RemoteRefusal is the remote's own refusal of a push, from its Git protocol
// report (a hook that declined, a protected branch). Only a Git server can
// send it, so its words are safe to show (see Describe).
type RemoteRefusal struct{ Msg string }

func (e *RemoteRefusal) Error() string { return e.Msg }

// FetchTooLargeError is the error of an operation stopped at the download
// limit.
type FetchTooLargeError struct {
	// Limit is the limit that was hit, in bytes.
	Limit int64
}

func (e *FetchTooLargeError) Error() string {
	return fmt.Sprintf("%s (--max-fetch-size=%s)", ErrFetchTooLarge, FormatByteSize(e.Limit))
}

// Is makes errors.Is(err, ErrFetchTooLarge) hold.
func (e *FetchTooLargeError) Is(target error) bool { return target == ErrFetchTooLarge }

// ObjectTooLargeError is the error of a clone or fetch stopped at an object
// past the object size bound. Its words are ours: sizes the remote declared,
// nothing it sent otherwise.
type ObjectTooLargeError struct {
	// What was too large: "blob", "tree", "commit", "tag", "delta" (a
	// delta's own data), "delta source", "delta result", "delta chain",
	// "deltas by reference", or "pack" (Size and Limit count objects).
	What string
	// Size is the inflated size declared (for a chain: the sum), in bytes.
	Size uint64
	// Limit is the bound that was passed, in bytes.
	Limit int64
}

func (e *ObjectTooLargeError) Error() string {
	if e.What == "pack" {
		return fmt.Sprintf("%s: a pack of %d objects, the limit is %d", ErrObjectTooLarge, e.Size, e.Limit)
	}
	what := "a " + e.What
	if strings.HasPrefix(e.What, "deltas") {
		what = e.What + " together"
	}
	return fmt.Sprintf("%s: %s of %s inflated, the limit is %s", ErrObjectTooLarge, what, formatSize(e.Size), FormatByteSize(e.Limit))
}

// Is makes errors.Is(err, ErrObjectTooLarge) hold.
func (e *ObjectTooLargeError) Is(target error) bool { return target == ErrObjectTooLarge }

// formatSize writes a size in bytes, exactly when it is small, else rounded
// down to KiB, MiB or GiB.
func formatSize(n uint64) string {
	for _, u := range []struct {
		suffix string
		size   uint64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n >= 10*u.size {
			return strconv.FormatUint(n/u.size, 10) + " " + u.suffix
		}
	}
	return strconv.FormatUint(n, 10) + " bytes"
}

// FormatByteSize writes n the way a resource.Quantity in binary units does
// ("1Gi", "512Mi", "1536Ki", "1000").
func FormatByteSize(n int64) string {
	for _, u := range []struct {
		suffix string
		size   int64
	}{{"Ei", 1 << 60}, {"Pi", 1 << 50}, {"Ti", 1 << 40}, {"Gi", 1 << 30}, {"Mi", 1 << 20}, {"Ki", 1 << 10}} {
		if n >= u.size && n%u.size == 0 {
			return strconv.FormatInt(n/u.size, 10) + u.suffix
		}
	}
	return strconv.FormatInt(n, 10)
}
