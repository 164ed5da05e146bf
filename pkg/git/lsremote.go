package git

import (
	"context"
	"errors"
	"fmt"

	gogit "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/go-git/go-git/v5/storage/memory"
)

// LsRemote lists the remote's references (git ls-remote) and returns how many
// there are: 0 for an empty repository. It checks that the remote answers and
// accepts the credentials; errors are redacted.
func LsRemote(ctx context.Context, url string, auth transport.AuthMethod) (int, error) {
	if err := checkRemote(ctx, url); err != nil {
		return 0, fmt.Errorf("git: %w", err)
	}
	remote := gogit.NewRemote(memory.NewStorage(), &config.RemoteConfig{Name: "origin", URLs: []string{url}})
	ctx, dl := withDownload(ctx) // a repository's advertisement can be huge too
	refs, err := remote.ListContext(ctx, &gogit.ListOptions{Auth: auth})
	err = dl.check(err)
	if errors.Is(err, transport.ErrEmptyRemoteRepository) {
		return 0, nil
	}
	if err != nil {
		return 0, redactErr(err, secretsOf(Options{URL: url, Auth: auth}))
	}
	return len(refs), nil
}
