// Package gpgtest runs the real gpg for tests that prove signed commits with
// git verify-commit (pkg/git and the end-to-end tests share it).
package gpgtest

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// Run runs gpg non-interactively with its home in home, stdin as input, and
// returns its output; a failure (gpg missing included) fails the test.
func Run(t testing.TB, home, stdin string, args ...string) string {
	t.Helper()
	if _, err := exec.LookPath("gpg"); err != nil {
		t.Fatalf("gpg is needed to prove signatures: apt-get install gnupg (%v)", err)
	}
	cmd := exec.Command("gpg", append([]string{"--batch", "--no-tty", "--pinentry-mode", "loopback"}, args...)...)
	cmd.Env = append(os.Environ(), "GNUPGHOME="+home)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.Output()
	if err != nil {
		msg := ""
		if ee, ok := err.(*exec.ExitError); ok {
			msg = string(ee.Stderr)
		}
		t.Fatalf("gpg %v: %v\n%s", args, err, msg)
	}
	return string(out)
}

// NewKey makes an ed25519 signing key for uid in home, as a user would, and
// returns its secret key armored.
func NewKey(t testing.TB, home, uid, passphrase string) string {
	t.Helper()
	Run(t, home, "", "--passphrase", passphrase, "--quick-gen-key", uid, "ed25519", "sign", "never")
	return Run(t, home, "", "--passphrase", passphrase, "--armor", "--export-secret-keys")
}
