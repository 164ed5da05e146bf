package git_test

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5/plumbing/transport"

	gitpkg "github.com/configbutler/gitops-reverser/pkg/git"
)

// BenchmarkCommitAndPush10k measures one commit of 10,000 new 1.2 KiB files
// (50 namespaces x 200 files) pushed to an empty bare repository, over
// file:// (the real git-receive-pack) and over the HTTP test server (git
// http-backend). Setup (repository, Open, content generation) is excluded.
//
//	go test ./pkg/git/ -run '^$' -bench CommitAndPush10k -benchtime 3x
func BenchmarkCommitAndPush10k(b *testing.B) {
	const files = 10_000
	changes := make([]gitpkg.Change, files)
	for i := range changes {
		content := fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-%05d\n  namespace: ns-%02d\ndata:\n  value: %q\n",
			i, i%50, strings.Repeat(fmt.Sprintf("%05d-", i), 200))
		changes[i] = gitpkg.Change{
			Path:    fmt.Sprintf("ns-%02d/configmaps/cm-%05d.yaml", i%50, i),
			Content: []byte(content[:1200]),
		}
	}

	run := func(b *testing.B, newRemote func(b *testing.B) (url string, auth transport.AuthMethod)) {
		b.ReportAllocs()
		b.SetBytes(int64(files * 1200))
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			url, auth := newRemote(b)
			r, err := gitpkg.Open(testCtx(b), gitpkg.Options{URL: url, Branch: "main", Dir: filepath.Join(b.TempDir(), "clone"), Auth: auth})
			if err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			res, err := r.CommitAndPush(testCtx(b), changes, "10k files")
			b.StopTimer()
			if err != nil {
				b.Fatal(err)
			}
			if !res.Pushed || res.Files != files {
				b.Fatalf("result %+v", res)
			}
			_ = r.Close()
			b.StartTimer()
		}
	}

	b.Run("file", func(b *testing.B) {
		run(b, func(b *testing.B) (string, transport.AuthMethod) {
			dir := filepath.Join(b.TempDir(), "remote.git")
			if out, err := exec.Command("git", "init", "--quiet", "--bare", "-b", "main", dir).CombinedOutput(); err != nil {
				b.Fatalf("git init: %v %s", err, out)
			}
			return "file://" + dir, nil
		})
	})
	b.Run("http", func(b *testing.B) {
		run(b, func(b *testing.B) (string, transport.AuthMethod) {
			rm := newRemote(b)
			return rm.url(), rm.auth()
		})
	})
}
