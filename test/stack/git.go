package stack

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/configbutler/gitops-reverser/test/gitserver"
)

// Remote is the stack's Git remote: `git http-backend` behind basic auth on
// loopback, its password kept in Dir, and the demo repository the example
// (ApplyExample) mirrors to.
type Remote struct {
	s *Stack

	Git         *gitserver.Server
	GitPassword string
}

func (g *Remote) startGit() error {
	s := g.s
	pwFile := filepath.Join(s.opts.Dir, "git-password")
	pw, err := os.ReadFile(pwFile)
	if errors.Is(err, os.ErrNotExist) {
		b := make([]byte, 12)
		if _, err := rand.Read(b); err != nil {
			return err
		}
		pw = []byte(hex.EncodeToString(b))
		err = os.WriteFile(pwFile, pw, 0o600)
	}
	if err != nil {
		return err
	}
	g.GitPassword = string(pw)
	root := filepath.Join(s.opts.Dir, "git")
	if err := os.MkdirAll(root, 0o755); err != nil {
		return err
	}
	g.Git, err = gitserver.Start(gitserver.Options{Username: GitUser, Password: g.GitPassword, Root: root,
		Addr: "127.0.0.1:" + strconv.Itoa(s.Ports.Git)})
	if err != nil {
		return fmt.Errorf("git server: %w", err)
	}
	if _, err := os.Stat(g.Git.RepoPath(DemoRepo)); errors.Is(err, os.ErrNotExist) {
		if _, err := g.Git.CreateBareRepo(DemoRepo); err != nil {
			return err
		}
	}
	s.logf("git remote %s", g.Git.URL(DemoRepo))
	return nil
}

// GitRemote is the demo repository's clone URL with credentials.
func (g *Remote) GitRemote() string { return g.Git.URLWithCredentials(DemoRepo) }

// ApplyExample applies artifacts/example (pointed at this stack's Git remote)
// and the Secret with the remote's credentials.
func (g *Remote) ApplyExample(ctx context.Context) error {
	s := g.s
	files, err := filepath.Glob(filepath.Join(s.opts.RepoRoot, "artifacts", "example", "*.yaml"))
	if err != nil || len(files) == 0 {
		return fmt.Errorf("no example manifests: %v", err)
	}
	var manifests []byte
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		manifests = append(append(manifests, b...), []byte("\n---\n")...)
	}
	manifests = bytes.ReplaceAll(manifests, []byte(ExampleGitURL), []byte(g.Git.URL(DemoRepo)))
	secret := fmt.Sprintf(`apiVersion: v1
kind: Secret
metadata:
  name: git-credentials
  namespace: demo
type: Opaque
stringData:
  username: %s
  password: %s
`, GitUser, g.GitPassword)
	s.logf("applying artifacts/example")
	return s.Apply(ctx, append(manifests, []byte(secret)...))
}
