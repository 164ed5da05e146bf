package git

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
)

// OpenPGPKey is an OpenPGP signing key, read from an armored private key.
type OpenPGPKey struct {
	entity *openpgp.Entity
	// Fingerprint is the primary key's fingerprint (upper-case hex).
	Fingerprint string
	// PublicKey is the armored public key, to import where commits are
	// verified (git verify-commit with gpg).
	PublicKey string
}

// ParseOpenPGPKey reads an armored private key, decrypting it with
// passphrase when it is protected. Errors never contain key material.
func ParseOpenPGPKey(armored, passphrase []byte) (*OpenPGPKey, error) {
	ring, err := openpgp.ReadArmoredKeyRing(bytes.NewReader(armored))
	if err != nil {
		return nil, errors.New("not an armored OpenPGP private key")
	}
	if len(ring) != 1 {
		return nil, fmt.Errorf("want one OpenPGP key, found %d", len(ring))
	}
	e := ring[0]
	if e.PrivateKey == nil {
		return nil, errors.New("the OpenPGP key has no private part")
	}
	if e.PrivateKey.Encrypted {
		if len(passphrase) == 0 {
			return nil, errors.New("the OpenPGP key is protected and no passphrase is given")
		}
		if err := e.DecryptPrivateKeys(passphrase); err != nil {
			return nil, errors.New("the passphrase does not decrypt the OpenPGP key")
		}
	}
	var pub bytes.Buffer
	w, err := armor.Encode(&pub, openpgp.PublicKeyType, nil)
	if err != nil {
		return nil, err
	}
	if err := e.Serialize(w); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return &OpenPGPKey{entity: e, Fingerprint: strings.ToUpper(fmt.Sprintf("%x", e.PrimaryKey.Fingerprint)), PublicKey: pub.String() + "\n"}, nil
}

// Sign returns the armored detached signature of payload (Options.Sign).
func (k *OpenPGPKey) Sign(payload []byte) (string, error) {
	var sig bytes.Buffer
	if err := openpgp.ArmoredDetachSign(&sig, k.entity, bytes.NewReader(payload), nil); err != nil {
		return "", err
	}
	return sig.String(), nil
}
