package git

import (
	"bytes"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"

	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
	"github.com/skeema/knownhosts"
	"golang.org/x/crypto/ssh"

	"github.com/configbutler/gitops-reverser/pkg/gitmodel"
)

// Keys read from a Kubernetes Secret's data by AuthFromSecret.
const (
	// SecretKeyUsername is the HTTP(S) user name (optional, default "git").
	SecretKeyUsername = "username"
	// SecretKeyPassword is the HTTP(S) password or access token.
	SecretKeyPassword = "password"
	// SecretKeySSHPrivateKey is a PEM/OpenSSH private key (the key of a
	// kubernetes.io/ssh-auth Secret).
	SecretKeySSHPrivateKey = "ssh-privatekey"
	// SecretKeySSHPassphrase is the optional passphrase of an encrypted key.
	SecretKeySSHPassphrase = "ssh-passphrase"
	// SecretKeyKnownHosts holds known_hosts lines pinning the server's host
	// key(s). Required for SSH: there is no insecure fallback.
	SecretKeyKnownHosts = "known_hosts"
)

// DefaultHTTPUsername is used when a Secret has a password/token but no
// username (GitHub, GitLab and Gitea accept any user name with a token).
const DefaultHTTPUsername = "git"

// DefaultSSHUser is used when an SSH URL has no user name.
const DefaultSSHUser = "git"

// AuthFromSecret builds the go-git auth method for url from a Kubernetes
// Secret's data:
//   - http(s): basic auth from "username" (default "git") and "password"
//     (a token goes in "password");
//   - ssh (ssh://, git+ssh://, scp-like user@host:path): public-key auth
//     from "ssh-privatekey" (+ optional "ssh-passphrase"); the user comes
//     from the URL (default "git"). Host keys are verified against
//     "known_hosts" (golang.org/x/crypto/ssh/knownhosts, via go-git's
//     skeema/knownhosts wrapper, which also restricts the negotiated host
//     key algorithms to those pinned for the host so a host offering several
//     key types is not rejected). A missing known_hosts is an error.
//   - file:// URLs, local paths and git:// need no auth: (nil, nil).
//
// Error messages name the missing or invalid key and never contain secret
// values. Trailing newlines in values (as left by `echo | base64`) are
// ignored.
func AuthFromSecret(rawURL string, data map[string][]byte) (transport.AuthMethod, error) {
	p, err := gitmodel.ParseRemoteURL(rawURL)
	if err != nil {
		return nil, err
	}
	switch p.Kind {
	case gitmodel.KindFile, gitmodel.KindGit:
		return nil, nil
	case gitmodel.KindHTTP:
		return httpAuthFromSecret(data)
	case gitmodel.KindSSH:
		return sshAuthFromSecret(p, data)
	default:
		return nil, fmt.Errorf("unsupported repository URL %q", Redact(rawURL))
	}
}

func secretValue(data map[string][]byte, key string) string {
	return strings.TrimRight(string(data[key]), "\r\n")
}

func httpAuthFromSecret(data map[string][]byte) (transport.AuthMethod, error) {
	password := secretValue(data, SecretKeyPassword)
	if password == "" {
		return nil, fmt.Errorf("secret key %q is missing or empty: HTTP(S) repositories need a password or access token", SecretKeyPassword)
	}
	username := strings.TrimSpace(secretValue(data, SecretKeyUsername))
	if username == "" {
		username = DefaultHTTPUsername
	}
	return &githttp.BasicAuth{Username: username, Password: password}, nil
}

func sshAuthFromSecret(p gitmodel.RemoteURL, data map[string][]byte) (transport.AuthMethod, error) {
	keyPEM := bytes.TrimSpace(data[SecretKeySSHPrivateKey])
	if len(keyPEM) == 0 {
		return nil, fmt.Errorf("secret key %q is missing or empty: SSH repositories need a private key", SecretKeySSHPrivateKey)
	}
	knownHosts := bytes.TrimSpace(data[SecretKeyKnownHosts])
	if len(knownHosts) == 0 {
		return nil, fmt.Errorf("secret key %q is missing or empty: SSH host keys must be pinned (no insecure fallback)", SecretKeyKnownHosts)
	}

	signer, err := parseSSHKey(keyPEM, secretValue(data, SecretKeySSHPassphrase))
	if err != nil {
		return nil, err
	}

	db, err := knownHostsDB(knownHosts)
	if err != nil {
		return nil, err
	}
	port := p.Port
	if port == "" {
		port = "22"
	}
	hostWithPort := net.JoinHostPort(p.Host, port)
	algos := db.HostKeyAlgorithms(hostWithPort)
	if len(algos) == 0 {
		return nil, fmt.Errorf("secret key %q has no host key for %s", SecretKeyKnownHosts, hostWithPort)
	}

	user := p.User
	if user == "" {
		user = DefaultSSHUser
	}
	return &gitssh.PublicKeys{
		User:   user,
		Signer: signer,
		HostKeyCallbackHelper: gitssh.HostKeyCallbackHelper{
			HostKeyCallback:   db.HostKeyCallback(),
			HostKeyAlgorithms: algos,
		},
	}, nil
}

func parseSSHKey(keyPEM []byte, passphrase string) (ssh.Signer, error) {
	signer, err := ssh.ParsePrivateKey(keyPEM)
	if err == nil {
		return signer, nil
	}
	var missing *ssh.PassphraseMissingError
	if !errors.As(err, &missing) {
		// x/crypto/ssh parse errors describe the format, never the key bytes.
		return nil, fmt.Errorf("secret key %q is not a valid SSH private key: %v", SecretKeySSHPrivateKey, err)
	}
	if passphrase == "" {
		return nil, fmt.Errorf("secret key %q is encrypted but secret key %q is missing or empty", SecretKeySSHPrivateKey, SecretKeySSHPassphrase)
	}
	signer, err = ssh.ParsePrivateKeyWithPassphrase(keyPEM, []byte(passphrase))
	if err != nil {
		if errors.Is(err, x509.IncorrectPasswordError) {
			return nil, fmt.Errorf("secret key %q does not decrypt secret key %q", SecretKeySSHPassphrase, SecretKeySSHPrivateKey)
		}
		return nil, fmt.Errorf("secret key %q could not be decrypted: %v", SecretKeySSHPrivateKey, err)
	}
	return signer, nil
}

// knownHostsDB parses known_hosts content. The knownhosts packages only read
// files, so the content goes through a short-lived temporary file (known
// hosts are public data); all parsing happens before it is removed.
func knownHostsDB(content []byte) (*knownhosts.HostKeyDB, error) {
	f, err := os.CreateTemp("", "known_hosts-*")
	if err != nil {
		return nil, fmt.Errorf("parse secret key %q: %w", SecretKeyKnownHosts, err)
	}
	name := f.Name()
	defer func() { _ = os.Remove(name) }()
	_, werr := f.Write(append(content, '\n'))
	cerr := f.Close()
	if werr != nil || cerr != nil {
		return nil, fmt.Errorf("parse secret key %q: %v", SecretKeyKnownHosts, errors.Join(werr, cerr))
	}
	db, err := gitssh.NewKnownHostsDb(name)
	if err != nil {
		return nil, fmt.Errorf("secret key %q is invalid: %s", SecretKeyKnownHosts, strings.ReplaceAll(err.Error(), name, SecretKeyKnownHosts))
	}
	return db, nil
}
