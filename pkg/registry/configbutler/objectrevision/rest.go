// Package objectrevision serves ObjectRevisions: the history of mirrored
// objects, read from Git by a Source (pkg/history, wired by pkg/cmd/server),
// never stored. A user sees a revision only while they may get the object's
// resource in its namespace now: the REST asks the server's delegated
// authorizer (which caches its answers briefly) for each (resource,
// namespace) a response holds, and answers NotFound for a revision the user
// may not see, so nothing of it leaks, not even that it exists.
package objectrevision

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metainternalversion "k8s.io/apimachinery/pkg/apis/meta/internalversion"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/apiserver/pkg/registry/rest"

	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler"
)

// Query selects revisions within a namespace (field selectors of a LIST).
type Query struct {
	Kind, Name, APIGroup string
	// TargetName and TargetNamespace select the GitTarget whose branch holds
	// them ("" for any).
	TargetName, TargetNamespace string
	// Limit and Continue page the list (newest first); 0: everything.
	Limit    int64
	Continue string
	// Full: with content and diff (a GET); lists leave them out.
	Full bool
}

// Source reads revisions from Git.
type Source interface {
	// List returns the revisions in namespace ns that q selects, newest
	// first, and the continue token of the next page ("": none).
	List(ctx context.Context, ns string, q Query) ([]configbutler.ObjectRevision, string, error)
	// Get returns one revision by name (NotFound when there is none).
	Get(ctx context.Context, ns, name string) (*configbutler.ObjectRevision, error)
}

// REST is the objectrevisions resource: get and list.
type REST struct {
	source     Source
	authorizer authorizer.Authorizer
	rest.TableConvertor
}

var (
	_ rest.Getter               = &REST{}
	_ rest.Lister               = &REST{}
	_ rest.Scoper               = &REST{}
	_ rest.Storage              = &REST{}
	_ rest.SingularNameProvider = &REST{}
)

// NewREST serves revisions from source, shown to who authz says may get
// their objects.
func NewREST(source Source, authz authorizer.Authorizer) *REST {
	return &REST{source: source, authorizer: authz, TableConvertor: table}
}

func (r *REST) New() runtime.Object     { return &configbutler.ObjectRevision{} }
func (r *REST) NewList() runtime.Object { return &configbutler.ObjectRevisionList{} }
func (r *REST) Destroy()                {}
func (r *REST) NamespaceScoped() bool   { return true }
func (r *REST) GetSingularName() string { return "objectrevision" }

// Get returns one revision, or NotFound when it does not exist or the user
// may not get its object.
func (r *REST) Get(ctx context.Context, name string, _ *metav1.GetOptions) (runtime.Object, error) {
	ns, _ := genericapirequest.NamespaceFrom(ctx)
	notFound := apierrors.NewNotFound(configbutler.Resource("objectrevisions"), name)
	rev, err := r.source.Get(ctx, ns, name)
	if apierrors.IsNotFound(err) {
		return nil, notFound
	}
	if err != nil {
		return nil, err
	}
	ok, err := newVisibility(r.authorizer).allowed(ctx, rev)
	if err != nil {
		return nil, apierrors.NewInternalError(err)
	}
	if !ok {
		return nil, notFound
	}
	return rev, nil
}

// List returns the revisions the field selector selects that the user may
// see, newest first.
func (r *REST) List(ctx context.Context, options *metainternalversion.ListOptions) (runtime.Object, error) {
	ns, _ := genericapirequest.NamespaceFrom(ctx)
	q, err := queryOf(options)
	if err != nil {
		return nil, apierrors.NewBadRequest(err.Error())
	}
	revs, cont, err := r.source.List(ctx, ns, q)
	if err != nil {
		return nil, err
	}
	vis := newVisibility(r.authorizer)
	out := &configbutler.ObjectRevisionList{ListMeta: metav1.ListMeta{Continue: cont}}
	for i := range revs {
		ok, err := vis.allowed(ctx, &revs[i])
		if err != nil {
			return nil, apierrors.NewInternalError(err)
		}
		if ok {
			out.Items = append(out.Items, revs[i])
		}
	}
	return out, nil
}

// visibility answers, once per (group, resource, namespace) in a request,
// whether the requesting user may get that resource there.
type visibility struct {
	authz   authorizer.Authorizer
	answers map[[3]string]bool
}

func newVisibility(a authorizer.Authorizer) *visibility {
	return &visibility{authz: a, answers: map[[3]string]bool{}}
}

func (v *visibility) allowed(ctx context.Context, rev *configbutler.ObjectRevision) (bool, error) {
	if v.authz == nil {
		return true, nil // standalone mode: its credential holders are its administrators
	}
	key := [3]string{rev.Object.APIGroup, rev.Object.Resource, rev.Object.Namespace}
	if ok, seen := v.answers[key]; seen {
		return ok, nil
	}
	u, ok := genericapirequest.UserFrom(ctx)
	if !ok {
		return false, nil
	}
	attrs := authorizer.AttributesRecord{User: u, Verb: "get", APIGroup: rev.Object.APIGroup, APIVersion: "*",
		Resource: rev.Object.Resource, Namespace: rev.Object.Namespace, ResourceRequest: true}
	d, _, err := v.authz.Authorize(ctx, attrs)
	if err != nil && d != authorizer.DecisionAllow {
		return false, fmt.Errorf("authorizing get %s: %w", rev.Object.Resource, err)
	}
	v.answers[key] = d == authorizer.DecisionAllow
	return v.answers[key], nil
}
