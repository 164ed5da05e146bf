// Package git is the repository engine of the reverse-GitOps server: it owns
// one long-lived local clone per (repository URL, branch) and writes commits
// to that branch with go-git, without a working tree.
//
// Design:
//   - The clone is a bare repository in Options.Dir. Open clones it when the
//     directory does not exist (or is empty) and otherwise opens it and
//     fetches; it never re-clones. A clone is prepared in a sibling temporary
//     directory and renamed into place, so Dir is either absent or a complete
//     clone (a failed clone leaves nothing behind).
//   - Only the configured branch is fetched (full history, no tags), into
//     refs/remotes/origin/<branch>; refs/heads/<branch> mirrors it. Head() is
//     the last branch tip we fetched or pushed. CommitAndPush does not fetch
//     first: it pushes optimistically and fetches only when rejected.
//   - Remotes are a tenant's input. Every HTTP(S) and SSH dial goes through
//     the process's RemotePolicy (SetRemotePolicy: the address checked is the
//     address dialed, never through a proxy of the environment), and what one
//     clone, fetch, push or ls-remote downloads is bounded (SetMaxFetchSize):
//     past the limit it fails with ErrFetchTooLarge, a failed first clone
//     leaves nothing and a failed fetch no half-written pack.
//   - Commits are built from object storage: the change set is applied to the
//     tip tree and only the trees on changed paths are re-encoded (unchanged
//     subtrees keep their hashes). The new blobs, trees and commit are
//     written as one delta-less packfile per commit, not as thousands of
//     loose objects, and the same objects (and only those) are sent in the
//     push. A commit of indexOwnPackMin objects or more (a snapshot) gets
//     its pack index from what was written rather than from go-git parsing
//     the pack again. The go-git worktree and index are never used.
//   - Pushes are never forced. The receive-pack update command names the
//     expected old tip (or the zero hash for a branch that must not exist
//     yet); the server applies it only if the branch still points there.
//     When the branch moved, the change set is replayed on the new tip (so
//     concurrent commits by others are kept) and the push retried with
//     jittered exponential backoff, a bounded number of times.
//   - An empty remote, or a remote without our branch, is fine: the first
//     commit creates the branch. When the branch does not exist the first
//     commit is an orphan root commit (no parent), even if the remote has
//     other branches: we never guess which branch to fork from, and the
//     branch then contains only what we write. If the branch is deleted on
//     the remote later, Head becomes zero at the next fetch and the next
//     commit starts a new orphan branch with only that change set; callers
//     that want the full state back should reconcile from ListFiles.
//   - Small packfiles are merged geometrically once there are more than
//     Options.MaxPacks (see packmerge.go).
//   - Errors never contain credentials: URL user info and the secret values
//     of the auth method are scrubbed (errors.Is still works on them).
//   - What the lifecycle's decisions need of Git without touching it (change
//     sets, blob hashes, remote URLs, the errors and their descriptions) is
//     pkg/gitmodel, which does no I/O; model.go gives it its names here.
//
// A Repo is owned by one goroutine at a time (the branch worker). Methods are
// serialized by an internal mutex so accidental concurrent calls are safe,
// but they do not run in parallel (see Repo for what the mutex guards and
// how its jobs are split). Two Repo values (or processes) must never
// use the same Dir at the same time.
package git
