// Package gitmodel is what the lifecycle's decisions need of Git without
// touching it: change sets, blob hashes, remote URLs and their credentials,
// the errors of the git engine and what status may say about them, and
// unified diffs as git prints them (of revisions, and of restores' plans).
//
// It is pure: it imports the standard library (no os, no syscall, no HTTP
// client), go-git's plumbing types, its line diff and the error sentinels of
// its transport package, and pkg/repopath, so the decision packages (pkg/lifecycle/gates,
// pkg/lifecycle/snapshot) can use it. The engine that clones, fetches and
// pushes is pkg/git; it returns the errors defined here and re-exports most
// of this package under its old names.
package gitmodel
