package snapshot

import (
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/configbutler/gitops-reverser/pkg/gitmodel"
	"github.com/configbutler/gitops-reverser/pkg/lifecycle/files"
	"github.com/configbutler/gitops-reverser/pkg/lifecycle/mirror"
	"github.com/configbutler/gitops-reverser/pkg/selection"
	"github.com/configbutler/gitops-reverser/pkg/sops"
)

// A snapshot keeps to the rules' operations as the stream does: a file is
// created only for rules that mirror CREATE, changed only for UPDATE, and
// removed only for DELETE (rules without it keep an archive).

// opAllowed reports whether writing obj's file is mirrored: an update when
// the file exists (had), a create when it does not.
func opAllowed(ts *selection.TypeSelection, obj *unstructured.Unstructured, had bool) bool {
	if had {
		return ts.Allows(obj, selection.OpUpdate)
	}
	return ts.Allows(obj, selection.OpCreate)
}

// replayAllowed is opAllowed for an event replayed after a restart: an
// object with no file may have been created, or changed, while the server
// was down (the event does not say), and the live stream writes it in
// either case once it changes; so it is written when the rules mirror
// creates or updates.
func replayAllowed(ts *selection.TypeSelection, obj *unstructured.Unstructured, had bool) bool {
	return opAllowed(ts, obj, had) || !had && ts.Allows(obj, selection.OpUpdate)
}

// maxDeleteNodes bounds the YAML parsed to decide a delete: a file from the
// repository may be anything, and a manifest the server wrote is block YAML
// of far fewer nodes (one per line or so).
const maxDeleteNodes = 50_000

// deleteAllowed reports whether the object a file holds (its last mirrored
// state: its labels decide which rules took it) may be deleted. Only read
// when some rule of the type leaves deletions out.
func deleteAllowed(ts *selection.TypeSelection, file []byte) bool {
	if !ts.Narrowed(selection.OpDelete) {
		return true
	}
	var m map[string]any
	if sops.CheckShape(file, maxDeleteNodes) != nil {
		return false // not shaped like a file we write: kept, as a foreign file is
	}
	if err := yaml.Unmarshal(file, &m); err != nil {
		return false // unreadable: kept, as a foreign file is
	}
	return ts.MayDelete(&unstructured.Unstructured{Object: m})
}

// reencryptKept plans a Secret's file the rules keep as it is (they leave
// updates out) encrypted again when it is not encrypted to the target's
// recipients now: its content stays as mirrored, its readers change (a key
// added opens it, a key removed does not). It reports whether it did.
func (p *Plan) reencryptKept(tree Tree, t *mirror.Target, path string) (bool, error) {
	if t.Keys == nil {
		return false, nil
	}
	old, found, err := files.ReadExisting(tree, path)
	if err != nil || !found || old == nil || sops.EncryptedTo(old, t.Keys.Recipients) {
		return false, err
	}
	plain, err := sops.Decrypt(old, t.Keys.Identities)
	if err != nil {
		return false, nil // not one the server can read: left as it is
	}
	enc, err := sops.Encrypt(plain, t.Keys.Recipients)
	if err != nil {
		return false, nil
	}
	stored, err := p.put(gitmodel.Compress(enc))
	if err != nil {
		return false, err
	}
	p.Stats.Updated++
	p.Updated = append(p.Updated, path)
	p.Changes = append(p.Changes, gitmodel.Change{Path: path, Stored: stored})
	return true, nil
}

// leftOut plans an object whose write the rules leave out: unchanged, or,
// for a Secret's file, encrypted again to the recipients of now.
func (p *Plan) leftOut(tree Tree, t *mirror.Target, path string, secret, had bool) error {
	if secret && had {
		if done, err := p.reencryptKept(tree, t, path); done || err != nil {
			return err
		}
	}
	p.Stats.Unchanged++
	return nil
}
