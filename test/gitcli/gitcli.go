// Package gitcli runs the git CLI in tests one way everywhere: isolated from
// the machine's configuration (no system or global config, no prompts) and
// committing as a fixed human, so what a test's git writes does not depend
// on who runs it.
package gitcli

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// Env is the environment of a git command run in home.
func Env(home string) []string {
	return append(os.Environ(),
		"HOME="+home,
		"GIT_CONFIG_NOSYSTEM=1",
		"GIT_CONFIG_GLOBAL="+os.DevNull,
		"GIT_TERMINAL_PROMPT=0",
		"GIT_AUTHOR_NAME=Human", "GIT_AUTHOR_EMAIL=human@example.com",
		"GIT_COMMITTER_NAME=Human", "GIT_COMMITTER_EMAIL=human@example.com",
	)
}

// Out runs git in dir with env added to Env(dir) and returns its combined
// output.
func Out(dir string, env []string, args ...string) (string, error) {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(Env(dir), env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// Run is Out that fails the test on an error and trims the output.
func Run(t testing.TB, dir string, env []string, args ...string) string {
	t.Helper()
	out, err := Out(dir, env, args...)
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(out)
}
