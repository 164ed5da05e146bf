package registry_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/authentication/user"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"

	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler"
	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler/v1alpha1"
	"github.com/configbutler/gitops-reverser/pkg/conditions"
	"github.com/configbutler/gitops-reverser/pkg/registry"
	"github.com/configbutler/gitops-reverser/pkg/registry/configbutler/gitprovider"
	"github.com/configbutler/gitops-reverser/pkg/registry/configbutler/gittarget"
)

var created = metav1.NewTime(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))

func gitTarget(branch string, gen int64) *configbutler.GitTarget {
	return &configbutler.GitTarget{
		ObjectMeta: metav1.ObjectMeta{Name: "t", Namespace: "ns", Generation: gen, ResourceVersion: "7", CreationTimestamp: created},
		Spec: configbutler.GitTargetSpec{
			ProviderRef: configbutler.GitProviderReference{Group: v1alpha1.GroupName, Kind: "GitProvider", Name: "p"},
			Branch:      branch, Path: "clusters/prod",
		},
	}
}

func gate(typ, status, reason string) metav1.Condition {
	return metav1.Condition{Type: typ, Status: metav1.ConditionStatus(status), Reason: reason, ObservedGeneration: 1, LastTransitionTime: created}
}

func storedStatus() configbutler.GitTargetStatus {
	return configbutler.GitTargetStatus{
		Conditions: []metav1.Condition{gate(v1alpha1.ConditionValidated, "True", v1alpha1.ReasonOK)},
		LastCommit: "a12f67b7c744eeb5ee0a6d7b0d5ea32b5159cf3f",
	}
}

func gitTargetStrategy() registry.Strategy[*configbutler.GitTarget, configbutler.GitTargetSpec, configbutler.GitTargetStatus] {
	return registry.NewStrategy(runtime.NewScheme(), gittarget.Kind)
}

// TestStrategyCreateDropsStatus: a create keeps the client's spec, drops the
// status it sent and starts the generation at 1 (paths are never rewritten:
// validation refuses non-canonical ones).
func TestStrategyCreateDropsStatus(t *testing.T) {
	s := gitTargetStrategy()
	obj := gitTarget("main", 9)
	obj.Status = storedStatus()
	want := obj.Spec

	s.PrepareForCreate(context.Background(), obj)
	if errs := s.Validate(context.Background(), obj); len(errs) != 0 {
		t.Fatalf("Validate: %v", errs)
	}
	bad := gitTarget("main", 9)
	bad.Spec.Path = "./clusters//prod/"
	if errs := s.Validate(context.Background(), bad); len(errs) != 1 || errs[0].Field != "spec.path" {
		t.Errorf("a non-canonical path: %v, want one error at spec.path", errs)
	}
	s.Canonicalize(obj)

	if d := cmp.Diff(configbutler.GitTargetStatus{}, obj.Status); d != "" {
		t.Errorf("status survived the create (-want +got):\n%s", d)
	}
	if obj.Generation != 1 {
		t.Errorf("generation %d, want 1", obj.Generation)
	}
	if d := cmp.Diff(want, obj.Spec); d != "" {
		t.Errorf("spec (-want +got):\n%s", d)
	}
	if !s.NamespaceScoped() {
		t.Error("GitTargets are namespaced")
	}
}

// TestStrategyUpdateKeepsStatus: an update always keeps the stored status, and
// bumps the generation only when the spec changed.
func TestStrategyUpdateKeepsStatus(t *testing.T) {
	for _, tc := range []struct {
		name    string
		change  func(*configbutler.GitTarget)
		wantGen int64
	}{
		{"no change", func(*configbutler.GitTarget) {}, 3},
		{"metadata only", func(o *configbutler.GitTarget) { o.Labels = map[string]string{"team": "a"} }, 3},
		{"status only", func(o *configbutler.GitTarget) { o.Status.LastCommit = "forged" }, 3},
		{"generation sent by the client", func(o *configbutler.GitTarget) { o.Generation = 40 }, 3},
		{"spec", func(o *configbutler.GitTarget) { o.Spec.Branch = "release" }, 4},
		{"spec and status", func(o *configbutler.GitTarget) {
			o.Spec.Encryption = &configbutler.EncryptionSpec{Provider: v1alpha1.EncryptionProviderSOPS}
			o.Status = configbutler.GitTargetStatus{}
		}, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			old := gitTarget("main", 3)
			old.Status = storedStatus()
			obj := old.DeepCopy()
			obj.Status.Conditions = nil
			tc.change(obj)
			wantSpec := obj.Spec

			gitTargetStrategy().PrepareForUpdate(context.Background(), obj, old)

			if d := cmp.Diff(storedStatus(), obj.Status); d != "" {
				t.Errorf("status not kept from storage (-want +got):\n%s", d)
			}
			if obj.Generation != tc.wantGen {
				t.Errorf("generation %d, want %d", obj.Generation, tc.wantGen)
			}
			if d := cmp.Diff(wantSpec, obj.Spec); d != "" {
				t.Errorf("client spec changed (-want +got):\n%s", d)
			}
		})
	}
}

// TestStatusStrategyKeepsSpec: a status write keeps spec and metadata from
// storage, takes the writer's status, computes the stored Ready (GitTarget's
// PrepareStatus) and validates the conditions.
func TestStatusStrategyKeepsSpec(t *testing.T) {
	s := registry.NewStatusStrategy(gitTargetStrategy())
	old := gitTarget("main", 2)
	obj := old.DeepCopy()
	obj.Spec.Branch = "forged"
	obj.Labels = map[string]string{"forged": "true"}
	obj.Generation = 5
	obj.Status = storedStatus()

	s.PrepareForUpdate(context.Background(), obj, old)

	if d := cmp.Diff(old.Spec, obj.Spec); d != "" {
		t.Errorf("spec not kept from storage (-want +got):\n%s", d)
	}
	if obj.Labels != nil || obj.Generation != 2 {
		t.Errorf("metadata not kept from storage: labels %v, generation %d", obj.Labels, obj.Generation)
	}
	if obj.Status.LastCommit != storedStatus().LastCommit {
		t.Errorf("status not the writer's: %+v", obj.Status)
	}
	if r := conditions.Find(obj.Status.Conditions, v1alpha1.ConditionReady); r == nil || r.Status != metav1.ConditionFalse {
		t.Errorf("stored Ready not computed: %+v", r)
	}
	if errs := s.ValidateUpdate(context.Background(), obj, old); len(errs) != 0 {
		t.Errorf("valid conditions rejected: %v", errs)
	}
	obj.Status.Conditions = append(obj.Status.Conditions, metav1.Condition{Type: "Bad Type", Status: "Maybe"})
	if errs := s.ValidateUpdate(context.Background(), obj, old); len(errs) == 0 {
		t.Error("malformed condition accepted")
	}
}

// TestResetFields: clients own spec, the status writer owns status.
func TestResetFields(t *testing.T) {
	gv := fieldpath.APIVersion(v1alpha1.SchemeGroupVersion.String())
	main := gitTargetStrategy()
	for name, tc := range map[string]struct {
		got  map[fieldpath.APIVersion]*fieldpath.Set
		want string
	}{
		"main":   {main.GetResetFields(), "status"},
		"status": {registry.NewStatusStrategy(main).GetResetFields(), "spec"},
	} {
		if set := tc.got[gv]; len(tc.got) != 1 || set == nil || !set.Equals(fieldpath.NewSet(fieldpath.MakePathOrDie(tc.want))) {
			t.Errorf("%s strategy resets %v, want .%s", name, tc.got, tc.want)
		}
	}
}

// TestKindHooks: the per-kind hooks get the typed object after the shared
// preparation, and the requesting user through ctx.
func TestKindHooks(t *testing.T) {
	type seen struct {
		user       string
		generation int64
		status     configbutler.GitProviderStatus
		changed    bool
	}
	var got []seen
	kind := gitprovider.Kind
	kind.PrepareForCreate = func(ctx context.Context, p *configbutler.GitProvider) {
		u, _ := genericapirequest.UserFrom(ctx)
		got = append(got, seen{user: u.GetName(), generation: p.Generation, status: p.Status})
	}
	kind.PrepareForUpdate = func(ctx context.Context, p, old *configbutler.GitProvider) {
		u, _ := genericapirequest.UserFrom(ctx)
		got = append(got, seen{user: u.GetName(), generation: p.Generation, status: p.Status, changed: p.Generation != old.Generation})
	}
	s := registry.NewStrategy(runtime.NewScheme(), kind)
	ctx := genericapirequest.WithUser(context.Background(), &user.DefaultInfo{Name: "alice"})

	stored := configbutler.GitProviderStatus{ObservedGeneration: 1}
	p := &configbutler.GitProvider{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns"},
		Spec:       configbutler.GitProviderSpec{URL: "https://example.com/r.git", AllowedBranches: []string{"main"}},
		Status:     configbutler.GitProviderStatus{ObservedGeneration: 9},
	}
	s.PrepareForCreate(ctx, p)
	p.Status = stored

	same := p.DeepCopy()
	same.Labels = map[string]string{"a": "b"}
	s.PrepareForUpdate(ctx, same, p)
	moved := p.DeepCopy()
	moved.Spec.AllowedBranches = []string{"main", "env/*"}
	s.PrepareForUpdate(ctx, moved, p)

	alice := &configbutler.AuthorizedIdentity{Username: "alice"}
	want := []seen{
		{user: "alice", generation: 1, status: configbutler.GitProviderStatus{AuthorizedBy: alice}},
		{user: "alice", generation: 1, status: stored},
		{user: "alice", generation: 2, status: configbutler.GitProviderStatus{ObservedGeneration: 1, AuthorizedBy: alice}, changed: true},
	}
	ignoreTime := cmpopts.IgnoreFields(configbutler.AuthorizedIdentity{}, "Time")
	if d := cmp.Diff(want, got, cmp.AllowUnexported(seen{}), ignoreTime); d != "" {
		t.Errorf("hooks saw (-want +got):\n%s", d)
	}
}

// TestAuthorizedByIsServerSet: status.authorizedBy is the requesting user of
// the create and of every spec change, never what a client sends, kept on
// every other write, the lifecycle's status writes included.
func TestAuthorizedByIsServerSet(t *testing.T) {
	s := registry.NewStrategy(runtime.NewScheme(), gitprovider.Kind)
	as := func(name string) context.Context {
		return genericapirequest.WithUser(context.Background(), &user.DefaultInfo{Name: name, UID: "uid-" + name, Groups: []string{"team"},
			Extra: map[string][]string{"scopes": {"x"}}})
	}
	who := func(p *configbutler.GitProvider) string {
		if p.Status.AuthorizedBy == nil {
			return "<nil>"
		}
		a := p.Status.AuthorizedBy
		return a.Username + "/" + a.UID + "/" + strings.Join(a.Groups, ",") + "/" + strings.Join(a.Extra["scopes"], ",")
	}
	p := &configbutler.GitProvider{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns"},
		Spec:   configbutler.GitProviderSpec{URL: "https://example.com/r.git", AllowedBranches: []string{"main"}},
		Status: configbutler.GitProviderStatus{AuthorizedBy: &configbutler.AuthorizedIdentity{Username: "admin"}}}
	s.PrepareForCreate(as("alice"), p)
	if who(p) != "alice/uid-alice/team/x" || p.Status.AuthorizedBy.Time == nil {
		t.Fatalf("after create: %s", who(p))
	}
	forged := p.DeepCopy()
	forged.Labels = map[string]string{"x": "y"}
	forged.Status.AuthorizedBy = &configbutler.AuthorizedIdentity{Username: "admin"}
	s.PrepareForUpdate(as("bob"), forged, p)
	if who(forged) != "alice/uid-alice/team/x" {
		t.Errorf("a metadata update by bob (with a forged status): %s, want alice's kept", who(forged))
	}
	changed := p.DeepCopy()
	changed.Spec.URL = "https://example.com/other.git"
	s.PrepareForUpdate(as("bob"), changed, p)
	if who(changed) != "bob/uid-bob/team/x" {
		t.Errorf("a spec change by bob: %s", who(changed))
	}
	// The status writer cannot change it.
	st := registry.NewStatusStrategy(s)
	write := changed.DeepCopy()
	write.Status.AuthorizedBy = &configbutler.AuthorizedIdentity{Username: "lifecycle"}
	st.PrepareForUpdate(context.Background(), write, changed)
	if who(write) != "bob/uid-bob/team/x" {
		t.Errorf("after a status write: %s", who(write))
	}
	// No user (never from kube-apiserver): nothing recorded.
	anon := &configbutler.GitProvider{Spec: p.Spec}
	s.PrepareForCreate(context.Background(), anon)
	if who(anon) != "<nil>" {
		t.Errorf("without a user: %s", who(anon))
	}
}

// TestNewStorageRejectsIncompleteKind: a kind missing a required function is
// refused when the storage is built, before any storage is touched.
func TestNewStorageRejectsIncompleteKind(t *testing.T) {
	kind := gitprovider.Kind
	kind.Status = nil
	_, err := registry.NewStorage(nil, nil, kind, registry.StoreConfig{Resource: configbutler.Resource("gitproviders")})
	if err == nil || err.Error() != "storage for gitproviders.configbutler.ai: kind without Status" {
		t.Fatalf("err %v", err)
	}
}
