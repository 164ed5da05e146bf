// Package recovery serves history and restore through the API: it turns the
// branches GitTargets write into ObjectRevisions (pkg/history reads them) and
// runs GitRestores (pkg/restore writes, as the user who asked). It reads our
// own objects and the targets' credentials through the lifecycle (Backend),
// which is set once the lifecycle runs: until then requests are refused as
// unavailable, never answered wrongly.
package recovery

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler/v1alpha1"
	"github.com/configbutler/gitops-reverser/pkg/clusterapi"
	"github.com/configbutler/gitops-reverser/pkg/history"
	"github.com/configbutler/gitops-reverser/pkg/lifecycle"
	"github.com/configbutler/gitops-reverser/pkg/lifecycle/mirror"
)

// Backend is what recovery reads through the lifecycle (*lifecycle.Controller).
type Backend interface {
	TargetsFor(ns string) []*v1alpha1.GitTarget
	Target(ns, name string) (*v1alpha1.GitTarget, error)
	BranchOf(t *v1alpha1.GitTarget) (mirror.BranchKey, string, bool)
	TargetRemote(ctx context.Context, ns, name string) (*lifecycle.Remote, error)
}

// Service is the history and restore of one server.
type Service struct {
	store     *history.Store
	resources *clusterapi.Resources
	backend   atomic.Pointer[backendBox]

	mu sync.Mutex
	// owners remembers, per history key, a target that writes it: the
	// resolver reads that target's credentials.
	owners map[string][2]string
}

type backendBox struct{ Backend }

// New returns a service keeping its clones under dir; resources is the
// source cluster's discovery (kinds of resources).
func New(dir string, resources *clusterapi.Resources) (*Service, error) {
	s := &Service{resources: resources, owners: map[string][2]string{}}
	store, err := history.NewStore(history.StoreOptions{Dir: dir, Resolve: s.resolve})
	if err != nil {
		return nil, err
	}
	s.store = store
	return s, nil
}

// SetBackend starts answering: the lifecycle runs.
func (s *Service) SetBackend(b Backend) { s.backend.Store(&backendBox{b}) }

// Close closes the clones.
func (s *Service) Close() error { return s.store.Close() }

func (s *Service) lifecycle() (Backend, error) {
	b := s.backend.Load()
	if b == nil {
		return nil, apierrors.NewServiceUnavailable("the history is not available yet: the server's lifecycle is starting")
	}
	return b.Backend, nil
}

// keyOf is the history key of a target's branch (false: the target writes
// nowhere now).
func (s *Service) keyOf(b Backend, t *v1alpha1.GitTarget) (history.BranchKey, bool) {
	bk, url, ok := b.BranchOf(t)
	if !ok {
		return history.BranchKey{}, false
	}
	key := history.BranchKey{URL: url, Branch: bk.Branch, Name: bk.String()}
	s.mu.Lock()
	s.owners[key.Name] = [2]string{t.Namespace, t.Name}
	s.mu.Unlock()
	return key, true
}

// resolve reads a history key's credentials through a target that writes it.
func (s *Service) resolve(ctx context.Context, key history.BranchKey) (history.Remote, error) {
	b, err := s.lifecycle()
	if err != nil {
		return history.Remote{}, err
	}
	s.mu.Lock()
	owner, ok := s.owners[key.Name]
	s.mu.Unlock()
	if !ok {
		return history.Remote{}, fmt.Errorf("no GitTarget writes %s", key.Name)
	}
	r, err := b.TargetRemote(ctx, owner[0], owner[1])
	if err != nil {
		return history.Remote{}, err
	}
	return history.Remote{URL: r.URL, Auth: r.Auth}, nil
}

// kinds maps resources to kinds and back, from discovery.
type kinds struct {
	kindOf map[schema.GroupResource]string
}

func (s *Service) kinds() (kinds, error) {
	res, err := s.resources.Get()
	if err != nil {
		return kinds{}, apierrors.NewServiceUnavailable(err.Error())
	}
	k := kinds{kindOf: map[schema.GroupResource]string{}}
	for _, r := range res {
		k.kindOf[r.GVR.GroupResource()] = r.Kind
	}
	return k, nil
}
