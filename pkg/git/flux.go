package git

import (
	"fmt"

	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"

	"github.com/configbutler/gitops-reverser/pkg/gitmodel"
)

// The keys of a Flux GitRepository's Secret (source-controller's docs, "Secret
// reference"): basic auth from username and password, or a bearerToken;
// SSH from identity (with password its passphrase) and known_hosts.
const (
	FluxKeyBearerToken = "bearerToken"
	FluxKeyIdentity    = "identity"
)

// AuthFromFluxSecret builds the auth of url from the Secret of a Flux
// GitRepository, so a cluster already running Flux lends its credentials
// as they are. Like AuthFromSecret, errors name keys, never values.
func AuthFromFluxSecret(rawURL string, data map[string][]byte) (transport.AuthMethod, error) {
	p, err := gitmodel.ParseRemoteURL(rawURL)
	if err != nil {
		return nil, err
	}
	switch p.Kind {
	case gitmodel.KindHTTP:
		if token := secretValue(data, FluxKeyBearerToken); token != "" && secretValue(data, SecretKeyPassword) == "" {
			return &githttp.TokenAuth{Token: token}, nil
		}
		return httpAuthFromSecret(data)
	case gitmodel.KindSSH:
		if len(data[FluxKeyIdentity]) == 0 {
			return nil, fmt.Errorf("secret key %q is missing or empty: SSH repositories need a private key", FluxKeyIdentity)
		}
		return sshAuthFromSecret(p, map[string][]byte{
			SecretKeySSHPrivateKey: data[FluxKeyIdentity],
			SecretKeySSHPassphrase: data[SecretKeyPassword],
			SecretKeyKnownHosts:    data[SecretKeyKnownHosts],
		})
	}
	return AuthFromSecret(rawURL, data)
}
