package history

import (
	"errors"
	"time"
)

// Operation is what a commit did to a file.
type Operation string

// The operations, as ObjectRevision's operation field names them.
const (
	// Create: the file is absent in the commit's first parent.
	Create Operation = "Create"
	// Update: the file's content changed.
	Update Operation = "Update"
	// Delete: the file is absent in the commit.
	Delete Operation = "Delete"
)

// op codes in the index (two bits).
const (
	opCreate uint8 = 1
	opUpdate uint8 = 2
	opDelete uint8 = 3
)

var opNames = [4]Operation{"", Create, Update, Delete}

// Revision is one change to one file in one commit of a branch's
// first-parent history. Hashes are full lower-case hex ("" for none).
type Revision struct {
	// Path of the file in the repository.
	Path      string
	Operation Operation
	// Commit that made the change, and its first parent ("" for a root).
	Commit string
	Parent string
	// PreviousCommit is the commit of the path's revision before this one
	// ("" for its first): for a Create after a Delete, the Delete's.
	PreviousCommit string
	// Time is the commit's (committer) time.
	Time time.Time
	// AuthorName and AuthorEmail are the commit's author.
	AuthorName, AuthorEmail string
	// User (Kubernetes-User), FieldManager (Kubernetes-Field-Manager: no
	// audit report named the user), Impersonator (Kubernetes-Impersonator)
	// and Verb (Kubernetes-Verb) are the commit's trailers, "" if absent.
	User, FieldManager, Impersonator, Verb string
	// Blob is the file's blob after the change; for a Delete, before it.
	Blob string
	// PreviousBlob is the file's blob before the change ("" for a Create;
	// for a Delete, the same as Blob).
	PreviousBlob string
}

// ErrAmbiguous is returned when a commit prefix matches more than one commit.
var ErrAmbiguous = errors.New("history: ambiguous commit prefix")

// ErrBadPrefix is returned for a commit prefix that is not 4 to 40 lower-case
// hex digits.
var ErrBadPrefix = errors.New("history: a commit prefix is 4 to 40 lower-case hex digits")

// ErrExpired is returned for a continue token the index cannot continue
// (malformed, or from a history that was rewritten since): start over.
var ErrExpired = errors.New("history: the continue token is no longer valid")

// ListOptions select a page of revisions, newest first.
type ListOptions struct {
	// Prefix is a directory: only paths under it ("" for every path).
	Prefix string
	// Namespaces, when not nil, keeps only the files under Prefix that hold
	// objects (ParsePath(Prefix, path)) of these namespaces, "" standing for
	// cluster-scoped objects. The index keeps, per Prefix asked, the
	// namespace of each path (parsed once), so this costs what it selects.
	Namespaces []string
	// FileNames, when not nil, keeps only the paths whose last segment is
	// one of these (an object's file names): the index keeps the paths by
	// file name, so listing one object's revisions costs what that object
	// has, not what its directory has.
	FileNames []string
	// Filter, when set, selects paths further (called once per distinct
	// path selected so far, so it must be cheap and must not call the
	// index).
	Filter func(path string) bool
	// Limit is the most items to return (0: all).
	Limit int
	// Continue is the Continue of the previous page ("" for the first).
	Continue string
}

// Page is one page of a List.
type Page struct {
	Items []Revision
	// Continue is the token of the next page, "" on the last page. Pages are
	// stable: a token continues below the last item returned, so revisions
	// added after the first page never appear in later pages, and none is
	// skipped or repeated.
	Continue string
}
