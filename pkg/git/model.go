package git

import (
	"github.com/go-git/go-git/v5/plumbing"

	"github.com/configbutler/gitops-reverser/pkg/gitmodel"
)

// What the engine shares with the lifecycle's decisions lives in pkg/gitmodel
// (pure: change sets, blob hashes, remote URLs, error descriptions); these
// are its names here, for the callers that hold a clone.

// Change is one entry of a change set (see gitmodel.Change).
type Change = gitmodel.Change

// BlobHash returns the git blob hash of content (see gitmodel.BlobHash):
// compare it with ListFiles output to diff desired content without reading
// blobs.
func BlobHash(content []byte) plumbing.Hash { return gitmodel.BlobHash(content) }

// MaxFileSize bounds the blobs ReadFile reads (see gitmodel.MaxFileSize).
const MaxFileSize = gitmodel.MaxFileSize

// The errors of the engine (see gitmodel).
var (
	// ErrInvalidChange: a bad path, or a change that would replace a
	// directory by a file (or a file by a directory).
	ErrInvalidChange = gitmodel.ErrInvalidChange
	// ErrPushRejected: the remote branch kept moving and the bounded number
	// of replay attempts of CommitAndPush ran out.
	ErrPushRejected = gitmodel.ErrPushRejected
	// ErrRemoteRefused is wrapped by every refusal of the RemotePolicy.
	ErrRemoteRefused = gitmodel.ErrRemoteRefused
	// ErrFetchTooLarge: past MaxFetchSize.
	ErrFetchTooLarge = gitmodel.ErrFetchTooLarge
	// ErrObjectTooLarge: an object past MaxObjectSize.
	ErrObjectTooLarge = gitmodel.ErrObjectTooLarge
	// ErrFileTooLarge: ReadFile of a file larger than MaxFileSize (found is
	// true).
	ErrFileTooLarge = gitmodel.ErrFileTooLarge
)

type (
	// RemoteRefusal is the remote's own refusal of a push.
	RemoteRefusal = gitmodel.RemoteRefusal
	// FetchTooLargeError is the error of an operation stopped at
	// MaxFetchSize.
	FetchTooLargeError = gitmodel.FetchTooLargeError
	// ObjectTooLargeError is the error of a clone or fetch stopped at an
	// object past MaxObjectSize.
	ObjectTooLargeError = gitmodel.ObjectTooLargeError
)

// Describe says why a remote could not be reached, never what it answered
// (see gitmodel.Describe).
func Describe(err error) string { return gitmodel.Describe(err) }

// FailureReason sorts a failed push into a bounded set, for metrics (see
// gitmodel.FailureReason).
func FailureReason(err error) string { return gitmodel.FailureReason(err) }

// NormalizeURL returns the repository identity of a remote URL (see
// gitmodel.NormalizeURL).
func NormalizeURL(raw string) (string, error) { return gitmodel.NormalizeURL(raw) }

// HasCredentials reports whether a URL embeds a secret in its user info (see
// gitmodel.HasCredentials).
func HasCredentials(raw string) bool { return gitmodel.HasCredentials(raw) }

// Redact removes credentials from a URL or from any text containing URLs
// (see gitmodel.Redact).
func Redact(s string) string { return gitmodel.Redact(s) }

// FormatByteSize writes n the way a resource.Quantity in binary units does
// (see gitmodel.FormatByteSize).
func FormatByteSize(n int64) string { return gitmodel.FormatByteSize(n) }

// redactErr scrubs URL user info and the given secret values from err's
// message, keeping it classifiable (see gitmodel.RedactError).
func redactErr(err error, secrets []string) error { return gitmodel.RedactError(err, secrets) }
