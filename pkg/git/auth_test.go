package git_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"net"
	"slices"
	"strings"
	"testing"

	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	gitpkg "github.com/configbutler/gitops-reverser/pkg/git"
)

type sshFixture struct {
	clientKeyPEM     []byte
	encryptedKeyPEM  []byte
	passphrase       string
	hostKey          ssh.PublicKey
	otherHostKey     ssh.PublicKey
	knownHosts       []byte // github.com and [git.example.com]:2222
	clientPublicKey  ssh.PublicKey
	clientPrivateRaw ed25519.PrivateKey
}

func newSSHFixture(t *testing.T) sshFixture {
	t.Helper()
	f := sshFixture{passphrase: "correct horse battery"}
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	f.clientPrivateRaw = priv
	if f.clientPublicKey, err = ssh.NewPublicKey(pub); err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "test key")
	if err != nil {
		t.Fatal(err)
	}
	f.clientKeyPEM = pem.EncodeToMemory(block)
	block, err = ssh.MarshalPrivateKeyWithPassphrase(priv, "test key", []byte(f.passphrase))
	if err != nil {
		t.Fatal(err)
	}
	f.encryptedKeyPEM = pem.EncodeToMemory(block)

	for _, k := range []*ssh.PublicKey{&f.hostKey, &f.otherHostKey} {
		hpub, _, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		if *k, err = ssh.NewPublicKey(hpub); err != nil {
			t.Fatal(err)
		}
	}
	f.knownHosts = []byte("# pinned hosts\n" +
		knownhosts.Line([]string{"github.com"}, f.hostKey) + "\n" +
		knownhosts.Line([]string{"[git.example.com]:2222"}, f.hostKey) + "\n")
	return f
}

func TestAuthFromSecretHTTP(t *testing.T) {
	for _, tc := range []struct {
		name     string
		url      string
		data     map[string][]byte
		wantUser string
		wantPass string
		wantErr  string
	}{
		{name: "user and password", url: "https://github.com/a/b",
			data:     map[string][]byte{"username": []byte("alice"), "password": []byte("s3cr3t-value")},
			wantUser: "alice", wantPass: "s3cr3t-value"},
		{name: "token only defaults the user", url: "https://gitlab.com/a/b.git",
			data:     map[string][]byte{"password": []byte("glpat-token-value\n")},
			wantUser: "git", wantPass: "glpat-token-value"},
		{name: "plain http", url: "http://127.0.0.1:8080/r.git",
			data:     map[string][]byte{"username": []byte(" bob \n"), "password": []byte("pw-value")},
			wantUser: "bob", wantPass: "pw-value"},
		{name: "missing password", url: "https://github.com/a/b",
			data: map[string][]byte{"username": []byte("alice-user")}, wantErr: `"password" is missing`},
		{name: "nil data", url: "https://github.com/a/b", wantErr: `"password" is missing`},
		{name: "ssh keys do not help https", url: "https://github.com/a/b",
			data: map[string][]byte{"ssh-privatekey": []byte("k")}, wantErr: `"password"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			auth, err := gitpkg.AuthFromSecret(tc.url, tc.data)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tc.wantErr)
				}
				for _, v := range tc.data {
					if len(v) > 3 && strings.Contains(err.Error(), strings.TrimSpace(string(v))) {
						t.Fatalf("error leaks a secret value: %v", err)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			ba, ok := auth.(*githttp.BasicAuth)
			if !ok {
				t.Fatalf("auth is %T, want *http.BasicAuth", auth)
			}
			equal(t, ba.Username, tc.wantUser, "username")
			equal(t, ba.Password, tc.wantPass, "password")
			if strings.Contains(ba.String(), tc.wantPass) {
				t.Fatal("BasicAuth.String leaks the password")
			}
		})
	}
}

func TestAuthFromSecretNoAuthNeeded(t *testing.T) {
	for _, u := range []string{"file:///tmp/repo.git", "/tmp/repo.git", "git://example.com/a/b"} {
		auth, err := gitpkg.AuthFromSecret(u, map[string][]byte{"password": []byte("x")})
		if err != nil || auth != nil {
			t.Fatalf("%s: auth=%v err=%v, want nil, nil", u, auth, err)
		}
	}
	if _, err := gitpkg.AuthFromSecret("ftp://example.com/a", nil); err == nil {
		t.Fatal("unsupported scheme accepted")
	}
}

func TestAuthFromSecretSSH(t *testing.T) {
	f := newSSHFixture(t)
	addr := &net.TCPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 22}

	for _, tc := range []struct {
		name     string
		url      string
		data     map[string][]byte
		wantUser string
		hostPort string
		wantErr  string
	}{
		{name: "scp-like", url: "git@github.com:org/repo.git", wantUser: "git", hostPort: "github.com:22",
			data: map[string][]byte{"ssh-privatekey": f.clientKeyPEM, "known_hosts": f.knownHosts}},
		{name: "ssh url with user and port", url: "ssh://deploy@git.example.com:2222/org/repo.git", wantUser: "deploy", hostPort: "git.example.com:2222",
			data: map[string][]byte{"ssh-privatekey": f.clientKeyPEM, "known_hosts": f.knownHosts}},
		{name: "ssh url without user", url: "ssh://github.com/org/repo", wantUser: "git", hostPort: "github.com:22",
			data: map[string][]byte{"ssh-privatekey": f.clientKeyPEM, "known_hosts": f.knownHosts}},
		{name: "encrypted key with passphrase", url: "git@github.com:org/repo.git", wantUser: "git", hostPort: "github.com:22",
			data: map[string][]byte{"ssh-privatekey": f.encryptedKeyPEM, "ssh-passphrase": []byte(f.passphrase + "\n"), "known_hosts": f.knownHosts}},
		{name: "missing known_hosts", url: "git@github.com:org/repo.git",
			data:    map[string][]byte{"ssh-privatekey": f.clientKeyPEM},
			wantErr: `"known_hosts" is missing or empty: SSH host keys must be pinned (no insecure fallback)`},
		{name: "missing private key", url: "git@github.com:org/repo.git",
			data: map[string][]byte{"known_hosts": f.knownHosts}, wantErr: `"ssh-privatekey" is missing`},
		{name: "encrypted key without passphrase", url: "git@github.com:org/repo.git",
			data:    map[string][]byte{"ssh-privatekey": f.encryptedKeyPEM, "known_hosts": f.knownHosts},
			wantErr: `"ssh-privatekey" is encrypted but secret key "ssh-passphrase" is missing`},
		{name: "wrong passphrase", url: "git@github.com:org/repo.git",
			data:    map[string][]byte{"ssh-privatekey": f.encryptedKeyPEM, "ssh-passphrase": []byte("wrong-passphrase"), "known_hosts": f.knownHosts},
			wantErr: `"ssh-passphrase" does not decrypt`},
		{name: "garbage key", url: "git@github.com:org/repo.git",
			data:    map[string][]byte{"ssh-privatekey": []byte("not-a-key-SECRETBYTES"), "known_hosts": f.knownHosts},
			wantErr: `"ssh-privatekey" is not a valid SSH private key`},
		{name: "host not in known_hosts", url: "git@gitlab.com:org/repo.git",
			data:    map[string][]byte{"ssh-privatekey": f.clientKeyPEM, "known_hosts": f.knownHosts},
			wantErr: `"known_hosts" has no host key for gitlab.com:22`},
		{name: "port not pinned", url: "ssh://git@git.example.com/org/repo.git",
			data:    map[string][]byte{"ssh-privatekey": f.clientKeyPEM, "known_hosts": f.knownHosts},
			wantErr: `no host key for git.example.com:22`},
		{name: "malformed known_hosts", url: "git@github.com:org/repo.git",
			data:    map[string][]byte{"ssh-privatekey": f.clientKeyPEM, "known_hosts": []byte("github.com ssh-ed25519 !!!notbase64")},
			wantErr: `"known_hosts" is invalid`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			auth, err := gitpkg.AuthFromSecret(tc.url, tc.data)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tc.wantErr)
				}
				for _, secret := range []string{string(f.clientKeyPEM), f.passphrase, "wrong-passphrase", "SECRETBYTES"} {
					if strings.Contains(err.Error(), secret) {
						t.Fatalf("error leaks secret material: %v", err)
					}
				}
				if strings.Contains(err.Error(), "known_hosts-") {
					t.Fatalf("error mentions the temporary file: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			pk, ok := auth.(*gitssh.PublicKeys)
			if !ok {
				t.Fatalf("auth is %T, want *ssh.PublicKeys", auth)
			}
			equal(t, pk.User, tc.wantUser, "ssh user")
			equal(t, string(pk.Signer.PublicKey().Marshal()), string(f.clientPublicKey.Marshal()), "signer public key")

			cfg, err := pk.ClientConfig()
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Contains(cfg.HostKeyAlgorithms, ssh.KeyAlgoED25519) {
				t.Fatalf("HostKeyAlgorithms = %v, want the pinned ed25519", cfg.HostKeyAlgorithms)
			}
			if err := cfg.HostKeyCallback(tc.hostPort, addr, f.hostKey); err != nil {
				t.Fatalf("pinned host key rejected: %v", err)
			}
			if err := cfg.HostKeyCallback(tc.hostPort, addr, f.otherHostKey); err == nil {
				t.Fatal("a different host key was accepted")
			}
			if err := cfg.HostKeyCallback("evil.example.com:22", addr, f.hostKey); err == nil {
				t.Fatal("an unknown host was accepted")
			}
		})
	}
}
