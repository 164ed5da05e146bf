package git_test

import (
	"context"
	"os/exec"
	"strings"
	"testing"

	gitpkg "github.com/configbutler/gitops-reverser/pkg/git"
	"github.com/configbutler/gitops-reverser/test/gpgtest"
)

// newGPGKey makes a signing key with the real gpg, as a user would, and
// returns it armored.
func newGPGKey(t *testing.T, passphrase string) string {
	t.Helper()
	return gpgtest.NewKey(t, t.TempDir(), "Mirror Bot <mirror@example.com>", passphrase)
}

// TestSignedCommitsVerifyWithGit: with a signing key, every commit the repo
// writes, replayed ones included, verifies with git verify-commit against the
// public key alone; the key's errors never show key material.
func TestSignedCommitsVerifyWithGit(t *testing.T) {
	armored := newGPGKey(t, "s3cret-passphrase")
	if _, err := gitpkg.ParseOpenPGPKey([]byte(armored), nil); err == nil || !strings.Contains(err.Error(), "passphrase") {
		t.Fatalf("protected key without passphrase: %v", err)
	}
	if _, err := gitpkg.ParseOpenPGPKey([]byte(armored), []byte("wrong")); err == nil || strings.Contains(err.Error(), "PRIVATE KEY") {
		t.Fatalf("wrong passphrase: %v", err)
	}
	if _, err := gitpkg.ParseOpenPGPKey([]byte("-----BEGIN PGP PRIVATE KEY BLOCK-----\n\nAAAA\n-----END PGP PRIVATE KEY BLOCK-----\n"), nil); err == nil || strings.Contains(err.Error(), "AAAA") {
		t.Fatalf("garbage key: %v", err)
	}
	key, err := gitpkg.ParseOpenPGPKey([]byte(armored), []byte("s3cret-passphrase"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(key.PublicKey, "PRIVATE") || !strings.Contains(key.PublicKey, "BEGIN PGP PUBLIC KEY BLOCK") || len(key.Fingerprint) != 40 {
		t.Fatalf("public half: %s %q", key.Fingerprint, key.PublicKey)
	}

	rm := newRemote(t)
	r := openRepoWith(t, rm, "main", gitpkg.Options{Sign: key.Sign})
	commit(t, r, "initial", put("a.yaml", "a: 1\n"))
	rm.humanCommit(t, "main", map[string]string{"README.md": "human\n"}, "human commit")
	// The remote moved: the chain is replayed on the human commit, and the
	// replayed commits are signed again.
	if _, err := r.CommitChainAndPush(context.Background(), []gitpkg.Commit{
		{Message: "one", Changes: []gitpkg.Change{{Path: "b.yaml", Content: []byte("b\n")}}, Author: &gitpkg.Signature{Name: "alice", Email: "alice@kubernetes.invalid"}},
		{Message: "two", Changes: []gitpkg.Change{{Path: "c.yaml", Content: []byte("c\n")}}},
	}); err != nil {
		t.Fatal(err)
	}

	// A verifier that knows only the public key from status.
	verifier := t.TempDir()
	gpgtest.Run(t, verifier, key.PublicKey, "--import")
	cli := rm.clone(t, "main")
	verify := func(rev string) (string, error) {
		cmd := exec.Command("git", "verify-commit", "--raw", rev)
		cmd.Dir = cli
		cmd.Env = append(gitEnv(cli), "GNUPGHOME="+verifier)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	ours := strings.Fields(runGit(t, cli, "log", "--format=%H", "--author=alice", "--author=Reverser Bot", "--committer=Reverser Bot"))
	if len(ours) != 3 {
		t.Fatalf("%d commits of ours, want 3:\n%s", len(ours), runGit(t, cli, "log", "--format=%H %an %cn %s"))
	}
	for _, h := range ours {
		out, err := verify(h)
		if err != nil || !strings.Contains(out, "GOODSIG") || !strings.Contains(out, key.Fingerprint) {
			t.Errorf("commit %s does not verify: %v\n%s", h, err, out)
		}
	}
	// The human's commit is not signed: verify-commit tells the difference.
	human := runGit(t, cli, "log", "--format=%H", "--author=Human")
	if out, err := verify(human); err == nil {
		t.Errorf("an unsigned commit verified:\n%s", out)
	}
	if got := runGit(t, cli, "log", "-1", "--format=%an <%ae> / %cn", "HEAD~1"); got != "alice <alice@kubernetes.invalid> / Reverser Bot" {
		t.Errorf("author / committer: %s", got)
	}
	// git log --show-signature shows it too.
	cmd := exec.Command("git", "log", "-1", "--show-signature")
	cmd.Dir, cmd.Env = cli, append(gitEnv(cli), "GNUPGHOME="+verifier)
	if out, _ := cmd.CombinedOutput(); !strings.Contains(string(out), "Good signature from \"Mirror Bot <mirror@example.com>\"") {
		t.Errorf("git log --show-signature:\n%s", out)
	}
}
