package recovery

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/klog/v2"

	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler"
	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler/v1alpha1"
	"github.com/configbutler/gitops-reverser/pkg/history"
	"github.com/configbutler/gitops-reverser/pkg/registry/configbutler/objectrevision"
	"github.com/configbutler/gitops-reverser/pkg/render"
)

var _ objectrevision.Source = &Service{}

// A revision's name is 12 hex digits of its commit, '-', and 12 hex digits of
// the SHA-256 of its file's path: derived from what it is, so it names the
// same revision on every replica and after every restart, and it is a valid
// object name whatever the object's name.
const nameHexLen = 12

// RevisionName names the revision of path in commit.
func RevisionName(commit, path string) string {
	return commit[:nameHexLen] + "-" + pathHash(path)
}

func pathHash(path string) string {
	sum := sha256.Sum256([]byte(path))
	return hex.EncodeToString(sum[:])[:nameHexLen]
}

// parseName splits a revision's name (false for a name it cannot be).
func parseName(name string) (commit, hash string, ok bool) {
	commit, hash, ok = strings.Cut(name, "-")
	if !ok || len(commit) != nameHexLen || len(hash) != nameHexLen || !isHex(commit) || !isHex(hash) {
		return "", "", false
	}
	return commit, hash, true
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if !(s[i] >= '0' && s[i] <= '9' || s[i] >= 'a' && s[i] <= 'f') {
			return false
		}
	}
	return true
}

// targetsOf are the targets a query in ns searches.
func (s *Service) targetsOf(b Backend, ns string, q objectrevision.Query) []*v1alpha1.GitTarget {
	var out []*v1alpha1.GitTarget
	for _, t := range b.TargetsFor(ns) {
		if q.TargetName != "" && t.Name != q.TargetName || q.TargetNamespace != "" && t.Namespace != q.TargetNamespace {
			continue
		}
		if t.Status.Claim == nil {
			continue // it never wrote: nothing of it is in Git
		}
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Namespace+"/"+out[i].Name < out[j].Namespace+"/"+out[j].Name })
	return out
}

// List returns the revisions in ns that q selects, newest first, across
// the branches of every target that may mirror ns. A continue token pages
// one target's branch: with several, a page is the newest Limit of all, and
// no token (select target.name to page through one).
func (s *Service) List(ctx context.Context, ns string, q objectrevision.Query) ([]configbutler.ObjectRevision, string, error) {
	b, err := s.lifecycle()
	if err != nil {
		return nil, "", err
	}
	k, err := s.kinds()
	if err != nil {
		return nil, "", err
	}
	targets := s.targetsOf(b, ns, q)
	var all []configbutler.ObjectRevision
	cont := ""
	for _, t := range targets {
		key, ok := s.keyOf(b, t)
		if !ok {
			continue
		}
		namespaces := []string{ns}
		if t.Namespace == ns {
			namespaces = append(namespaces, "") // cluster-scoped objects it mirrored
		}
		opts := history.ListOptions{Prefix: t.Spec.Path, Namespaces: namespaces, FileNames: fileNames(q.Name), Filter: s.filter(k, t.Spec.Path, q), Limit: int(q.Limit)}
		if len(targets) == 1 {
			opts.Continue = q.Continue
		}
		page, err := s.store.List(ctx, key, opts)
		if err != nil {
			klog.InfoS("Reading a target's history failed", "target", t.Namespace+"/"+t.Name, "err", err)
			if len(targets) == 1 {
				return nil, "", historyError(err)
			}
			continue
		}
		if len(targets) == 1 {
			cont = page.Continue
		}
		for _, rev := range page.Items {
			if r, ok := s.toAPI(k, t, key, rev, ns); ok {
				if r.Object.Name == "" {
					// Shortened, and selected by its name: the file name is
					// that name's (filter), so it is the object's.
					r.Object.Name = q.Name
				}
				all = append(all, r)
			}
		}
	}
	sort.SliceStable(all, func(i, j int) bool { return all[i].Time.After(all[j].Time.Time) })
	if q.Limit > 0 && int64(len(all)) > q.Limit {
		all = all[:q.Limit]
	}
	return all, cont, nil
}

// filter selects the paths under a target's path that q's kind, name and
// group select.
func (s *Service) filter(k kinds, base string, q objectrevision.Query) func(path string) bool {
	if q.Kind == "" && q.Name == "" && q.APIGroup == "" {
		return nil
	}
	return func(path string) bool {
		obj, ok := history.ParsePath(base, path)
		if !ok {
			return false
		}
		if q.APIGroup != "" && obj.Group != q.APIGroup {
			return false
		}
		if q.Kind != "" && k.kindOf[schema.GroupResource{Group: obj.Group, Resource: obj.Resource}] != q.Kind {
			return false
		}
		if q.Name != "" {
			ext := render.Ext
			if obj.Group == "" && obj.Resource == "secrets" {
				ext = render.SecretExt
			}
			return strings.HasSuffix(path, "/"+render.FileStem(q.Name, ext)+ext)
		}
		return true
	}
}

// fileNames are the names of the files an object called name is written
// to (nil for no name: every file).
func fileNames(name string) []string {
	if name == "" {
		return nil
	}
	return []string{render.FileStem(name, render.Ext) + render.Ext, render.FileStem(name, render.SecretExt) + render.SecretExt}
}

// Get returns the revision called name in ns, with its content and diff.
func (s *Service) Get(ctx context.Context, ns, name string) (*configbutler.ObjectRevision, error) {
	notFound := apierrors.NewNotFound(configbutler.Resource("objectrevisions"), name)
	commit, hash, ok := parseName(name)
	if !ok {
		return nil, notFound
	}
	b, err := s.lifecycle()
	if err != nil {
		return nil, err
	}
	k, err := s.kinds()
	if err != nil {
		return nil, err
	}
	for _, t := range s.targetsOf(b, ns, objectrevision.Query{}) {
		key, ok := s.keyOf(b, t)
		if !ok {
			continue
		}
		revs, found, err := s.store.InCommit(ctx, key, commit, func(path string) bool {
			return pathHash(path) == hash && (t.Spec.Path == "" || strings.HasPrefix(path, t.Spec.Path+"/"))
		})
		if err != nil || !found || len(revs) == 0 {
			continue
		}
		r, ok := s.toAPI(k, t, key, revs[0], ns)
		if !ok {
			continue
		}
		content, diff, err := s.store.ContentAndDiff(ctx, key, revs[0])
		if err != nil {
			return nil, historyError(err)
		}
		r.Content, r.Diff = string(content), diff
		if r.Object.Name == "" {
			// A shortened file name: the name is in the content (for a
			// deletion, the content deleted).
			obj, _ := history.ParsePath(t.Spec.Path, revs[0].Path)
			r.Object.Name, _ = obj.NameFromContent(content)
		}
		return &r, nil
	}
	return nil, notFound
}

// toAPI makes an ObjectRevision of a history revision of target t, listed
// in ns (false: the file is no object of the layout, or not of ns).
func (s *Service) toAPI(k kinds, t *v1alpha1.GitTarget, key history.BranchKey, rev history.Revision, ns string) (configbutler.ObjectRevision, bool) {
	obj, ok := history.ParsePath(t.Spec.Path, rev.Path)
	if !ok {
		return configbutler.ObjectRevision{}, false
	}
	listedIn := obj.Namespace
	if listedIn == "" {
		listedIn = t.Namespace // cluster-scoped: listed with the target
	}
	if listedIn != ns {
		return configbutler.ObjectRevision{}, false
	}
	name := obj.Name
	if obj.Shortened {
		name = "" // in the file only; Get fills it from the content
	}
	apiVersion := obj.Version
	if obj.Group != "" {
		apiVersion = obj.Group + "/" + obj.Version
	}
	when := metav1.NewTime(rev.Time)
	return configbutler.ObjectRevision{
		ObjectMeta: metav1.ObjectMeta{Name: RevisionName(rev.Commit, rev.Path), Namespace: ns, CreationTimestamp: when},
		Object: configbutler.RevisionObject{APIGroup: obj.Group, APIVersion: apiVersion, Kind: k.kindOf[schema.GroupResource{Group: obj.Group, Resource: obj.Resource}],
			Resource: obj.Resource, Namespace: obj.Namespace, Name: name},
		Operation: string(rev.Operation),
		Author: configbutler.RevisionAuthor{Name: rev.AuthorName, Email: rev.AuthorEmail, User: rev.User, FieldManager: rev.FieldManager,
			Impersonator: rev.Impersonator},
		Commit: rev.Commit, PreviousCommit: rev.PreviousCommit, Time: when,
		Target:     configbutler.NamespacedObjectReference{Namespace: t.Namespace, Name: t.Name},
		Repository: strings.SplitN(key.Name, "#", 2)[0], Branch: key.Branch, Path: rev.Path,
	}, true
}

// retryOpening is the Retry-After, in seconds, of a query whose branch is
// still being cloned and indexed.
const retryOpening = 5

// historyError maps history's errors to API errors.
func historyError(err error) error {
	switch {
	case err == nil:
		return nil
	case apierrors.IsNotFound(err) || apierrors.IsServiceUnavailable(err):
		return err
	case err == history.ErrExpired:
		return apierrors.NewResourceExpired(err.Error())
	case errors.Is(err, history.ErrOpening):
		// 503 with Retry-After: client-go (and so kubectl) retries.
		se := apierrors.NewServiceUnavailable("the history of this branch is still being read from Git (cloned and indexed the first time it is asked for); retry shortly")
		se.ErrStatus.Details = &metav1.StatusDetails{RetryAfterSeconds: retryOpening}
		return se
	}
	return apierrors.NewServiceUnavailable(fmt.Sprintf("reading the history from Git: %v", err))
}
