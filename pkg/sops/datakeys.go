package sops

import (
	"crypto/rand"
	"fmt"
	"strings"
	"sync"
	"time"

	"filippo.io/age"
)

// Data keys are shared by the files encrypted to one recipient set within a
// short while: a snapshot of 25,000 Secrets spent half of its encryption
// wrapping each file's own data key to its recipients (an X25519 exchange
// and an age header per recipient and file). A shared key changes nothing a
// reader can use: every file still needs an identity of its recipients to
// be read, and whoever holds one reads all of them anyway; values keep their
// own random nonces, and a key stops being used well before AES-GCM's
// random-nonce bound (maxKeyFiles files, maxKeyAge).
const (
	maxKeyFiles   = 1000
	maxKeyAge     = 10 * time.Minute
	maxKeyEntries = 256 // recipient sets kept; past it, all start over
)

// dataKey is one shared data key and its age stanzas, one per recipient in
// the normalized order.
type dataKey struct {
	key     []byte
	wrapped []string
	uses    int
	made    time.Time
}

var dataKeys = struct {
	sync.Mutex
	byRecipients map[string]*dataKey
}{byRecipients: map[string]*dataKey{}}

// sharedDataKey returns the data key and stanzas to encrypt one more file to
// recipients (normalized; parsed in the same order), making and wrapping a
// new key when there is none, or the last one was used enough or is too
// old. The key is shared: callers never write to it.
func sharedDataKey(recipients []string, parsed []age.Recipient, now time.Time) ([]byte, []string, error) {
	id := strings.Join(recipients, "\n")
	dataKeys.Lock()
	defer dataKeys.Unlock()
	k := dataKeys.byRecipients[id]
	if k == nil || k.uses >= maxKeyFiles || now.Sub(k.made) >= maxKeyAge || now.Before(k.made) {
		k = &dataKey{key: make([]byte, dataKeySize), made: now}
		if _, err := rand.Read(k.key); err != nil {
			return nil, nil, fmt.Errorf("generating data key: %w", err)
		}
		for i, r := range parsed {
			enc, err := wrapDataKey(k.key, r)
			if err != nil {
				return nil, nil, fmt.Errorf("recipient %q: %w", recipients[i], err)
			}
			k.wrapped = append(k.wrapped, enc)
		}
		if len(dataKeys.byRecipients) >= maxKeyEntries {
			clear(dataKeys.byRecipients)
		}
		dataKeys.byRecipients[id] = k
	}
	k.uses++
	return k.key, k.wrapped, nil
}
