package git_test

import (
	"strings"
	"testing"

	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"

	gitpkg "github.com/configbutler/gitops-reverser/pkg/git"
)

// TestAuthFromFluxSecret: a Flux GitRepository's Secret as Flux documents
// it: username and password, a bearerToken, or an SSH identity (with its
// passphrase in password) and known_hosts.
func TestAuthFromFluxSecret(t *testing.T) {
	f := newSSHFixture(t)
	basic, err := gitpkg.AuthFromFluxSecret("https://git.example.com/org/repo.git", map[string][]byte{"username": []byte("flux"), "password": []byte("pat\n")})
	if b, ok := basic.(*githttp.BasicAuth); err != nil || !ok || b.Username != "flux" || b.Password != "pat" {
		t.Errorf("basic auth: %#v, %v", basic, err)
	}
	bearer, err := gitpkg.AuthFromFluxSecret("https://git.example.com/org/repo.git", map[string][]byte{"bearerToken": []byte("tok")})
	if b, ok := bearer.(*githttp.TokenAuth); err != nil || !ok || b.Token != "tok" {
		t.Errorf("bearer token: %#v, %v", bearer, err)
	}
	sshAuth, err := gitpkg.AuthFromFluxSecret("ssh://git@github.com/org/repo", map[string][]byte{
		"identity": f.encryptedKeyPEM, "password": []byte(f.passphrase), "known_hosts": f.knownHosts})
	if k, ok := sshAuth.(*gitssh.PublicKeys); err != nil || !ok || k.User != "git" {
		t.Errorf("ssh identity: %#v, %v", sshAuth, err)
	}
	for _, tc := range []struct {
		url  string
		data map[string][]byte
		want string
	}{
		{"ssh://git@github.com/org/repo", map[string][]byte{"known_hosts": f.knownHosts}, `"identity" is missing`},
		{"ssh://git@github.com/org/repo", map[string][]byte{"identity": f.clientKeyPEM}, `"known_hosts" is missing`},
		{"https://git.example.com/org/repo.git", map[string][]byte{"username": []byte("flux")}, `"password" is missing`},
	} {
		if _, err := gitpkg.AuthFromFluxSecret(tc.url, tc.data); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s %v: error %v, want %q", tc.url, keys(tc.data), err, tc.want)
		}
	}
}

func keys(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
