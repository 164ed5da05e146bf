// Package history answers who changed a mirrored object, and what it was,
// from the Git branches the server writes: one item per change to one file in
// one commit (a Revision), for the read-only ObjectRevision resource.
//
// An Index records, per branch, the paths each commit of the branch's
// first-parent history touched: each commit's tree is diffed against its
// first parent's (a root commit against the empty tree), skipping equal
// subtrees by hash, so the cost of a commit is proportional to what it
// changed. A merge commit's changes are what it brought to the first parent.
// Along a first-parent chain the diffs telescope: a path's revisions, oldest
// first, are each the change from the one before, which is where a
// revision's previous commit and blob come from.
//
// The index is incremental (after a fetch only the commits from the new tip
// back to the recorded one are walked; a recorded tip no longer on the
// first-parent history, after a force push, means a rebuild) and persistent
// (a versioned, checksummed file in the clone's directory, written atomically;
// a missing, corrupt or other-version file is rebuilt from history).
//
// A Store keeps one read-only clone per branch key and its index, fetched on
// demand at most every FreshFor, stale-while-revalidate: a query answers from
// the current index at once and a background fetch refreshes it. Only the
// first query of a clone waits (for its clone and index).
//
// Content reads a revision's file bounded like git.Repo.ReadFile, with its
// diff as `git diff -U3` prints it (gitmodel.UnifiedDiff); ParsePath maps a
// file back to the object it holds.
package history
