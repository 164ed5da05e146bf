package integration

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"

	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler/v1alpha1"
	acv1alpha1 "github.com/configbutler/gitops-reverser/pkg/generated/applyconfiguration/configbutler/v1alpha1"
	"github.com/configbutler/gitops-reverser/pkg/generated/clientset/versioned/scheme"
)

func provider(ns, name string) *v1alpha1.GitProvider {
	return &v1alpha1.GitProvider{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: v1alpha1.GitProviderSpec{
			URL:             "https://git.example.com/org/repo.git",
			SecretRef:       &v1alpha1.LocalObjectReference{Name: "git-creds"},
			AllowedBranches: []string{"main", "env/*"},
		},
	}
}

func target(ns, name, providerName, branch, path string) *v1alpha1.GitTarget {
	return &v1alpha1.GitTarget{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: v1alpha1.GitTargetSpec{
			ProviderRef: v1alpha1.GitProviderReference{Name: providerName},
			Branch:      branch,
			Path:        path,
		},
	}
}

func TestCRUDAllKinds(t *testing.T) {
	c, ns := srv.Client.ConfigbutlerV1alpha1(), namespace()
	ctx := testContext(t)

	p, err := c.GitProviders(ns).Create(ctx, provider(ns, "p"), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if p.Spec.Push.Interval.Duration != 5*time.Second || p.Spec.Push.MaxChanges != 500 || p.Generation != 1 {
		t.Errorf("defaults not applied: push=%+v generation=%d", p.Spec.Push, p.Generation)
	}
	p.Spec.AllowedBranches = append(p.Spec.AllowedBranches, "release-*")
	if p, err = c.GitProviders(ns).Update(ctx, p, metav1.UpdateOptions{}); err != nil || p.Generation != 2 {
		t.Fatalf("update: err=%v generation=%d", err, p.Generation)
	}
	p.Labels = map[string]string{"team": "a"}
	if p, err = c.GitProviders(ns).Update(ctx, p, metav1.UpdateOptions{}); err != nil || p.Generation != 2 {
		t.Fatalf("metadata-only update bumped the generation: err=%v generation=%d", err, p.Generation)
	}

	tg, err := c.GitTargets(ns).Create(ctx, target(ns, "t", "p", "main", "clusters/prod"), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if tg.Spec.ProviderRef.Group != "configbutler.ai" || tg.Spec.ProviderRef.Kind != "GitProvider" || tg.Spec.Path != "clusters/prod" {
		t.Errorf("providerRef defaults missing or path changed: %+v path=%q", tg.Spec.ProviderRef, tg.Spec.Path)
	}

	wr, err := c.WatchRules(ns).Create(ctx, &v1alpha1.WatchRule{
		ObjectMeta: metav1.ObjectMeta{Name: "w"},
		Spec: v1alpha1.WatchRuleSpec{TargetRef: v1alpha1.LocalObjectReference{Name: "t"},
			Rules: []v1alpha1.ResourceRule{{APIGroups: []string{""}, Resources: []string{"configmaps", "secrets"}}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cwr, err := c.ClusterWatchRules().Create(ctx, &v1alpha1.ClusterWatchRule{
		ObjectMeta: metav1.ObjectMeta{Name: "cw-" + ns},
		Spec: v1alpha1.ClusterWatchRuleSpec{TargetRef: v1alpha1.NamespacedObjectReference{Name: "t", Namespace: ns},
			Rules: []v1alpha1.ClusterResourceRule{{APIGroups: []string{"rbac.authorization.k8s.io"}, Resources: []string{"clusterroles"}, Scope: v1alpha1.ClusterScope}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if cwr.Namespace != "" {
		t.Errorf("ClusterWatchRule got a namespace %q", cwr.Namespace)
	}

	if l, err := c.GitProviders(ns).List(ctx, metav1.ListOptions{}); err != nil || len(l.Items) != 1 {
		t.Errorf("list gitproviders: %v", err)
	}
	if l, err := c.GitTargets(ns).List(ctx, metav1.ListOptions{}); err != nil || len(l.Items) != 1 {
		t.Errorf("list gittargets: %v", err)
	}
	if l, err := c.WatchRules(ns).List(ctx, metav1.ListOptions{}); err != nil || len(l.Items) != 1 {
		t.Errorf("list watchrules: %v", err)
	}
	if l, err := c.ClusterWatchRules().List(ctx, metav1.ListOptions{FieldSelector: "metadata.name=" + cwr.Name}); err != nil || len(l.Items) != 1 {
		t.Errorf("list clusterwatchrules: %v", err)
	}

	if _, err := c.GitTargets(ns).Get(ctx, tg.Name, metav1.GetOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, del := range []func() error{
		func() error { return c.WatchRules(ns).Delete(ctx, wr.Name, metav1.DeleteOptions{}) },
		func() error { return c.ClusterWatchRules().Delete(ctx, cwr.Name, metav1.DeleteOptions{}) },
		func() error { return c.GitTargets(ns).Delete(ctx, tg.Name, metav1.DeleteOptions{}) },
		func() error { return c.GitProviders(ns).Delete(ctx, p.Name, metav1.DeleteOptions{}) },
	} {
		if err := del(); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.GitTargets(ns).Get(ctx, tg.Name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("get after delete: %v", err)
	}
}

// TestValidationErrorsCarryFieldPaths: every rejection names the field, and
// nothing is stored.
func TestValidationErrorsCarryFieldPaths(t *testing.T) {
	c, ns := srv.Client.ConfigbutlerV1alpha1(), namespace()
	ctx := testContext(t)
	type tc struct {
		field  string
		create func() error
	}
	mutTarget := func(f func(*v1alpha1.GitTarget)) func() error {
		return func() error {
			tg := target(ns, "bad", "p", "main", "x")
			f(tg)
			_, err := c.GitTargets(ns).Create(ctx, tg, metav1.CreateOptions{})
			return err
		}
	}
	cases := []tc{
		{"spec.path", mutTarget(func(t *v1alpha1.GitTarget) { t.Spec.Path = "/etc" })},
		{"spec.path", mutTarget(func(t *v1alpha1.GitTarget) { t.Spec.Path = "a/../../b" })},
		{"spec.path", mutTarget(func(t *v1alpha1.GitTarget) { t.Spec.Path = `a\b` })},
		// Non-canonical spellings are refused, not cleaned: the path stored is the
		// path the git engine writes under.
		{"spec.path", mutTarget(func(t *v1alpha1.GitTarget) { t.Spec.Path = "clusters/prod/" })},
		{"spec.path", mutTarget(func(t *v1alpha1.GitTarget) { t.Spec.Path = "a/./b" })},
		{"spec.path", mutTarget(func(t *v1alpha1.GitTarget) { t.Spec.Path = "x/.Git/hooks" })},
		{"spec.branch", mutTarget(func(t *v1alpha1.GitTarget) { t.Spec.Branch = "feat..x" })},
		{"spec.branch", mutTarget(func(t *v1alpha1.GitTarget) { t.Spec.Branch = "" })},
		{"spec.encryption.provider", mutTarget(func(t *v1alpha1.GitTarget) {
			t.Spec.Encryption = &v1alpha1.EncryptionSpec{Provider: "pgp", SecretRef: v1alpha1.LocalObjectReference{Name: "k"}}
		})},
		{"spec.url", func() error {
			p := provider(ns, "bad")
			p.Spec.URL = "not a url"
			_, err := c.GitProviders(ns).Create(ctx, p, metav1.CreateOptions{})
			return err
		}},
		{"spec.url", func() error {
			p := provider(ns, "bad")
			p.Spec.URL = "https://user:secret@example.com/r.git"
			_, err := c.GitProviders(ns).Create(ctx, p, metav1.CreateOptions{})
			return err
		}},
		{"spec.rules", func() error {
			_, err := c.WatchRules(ns).Create(ctx, &v1alpha1.WatchRule{ObjectMeta: metav1.ObjectMeta{Name: "bad"},
				Spec: v1alpha1.WatchRuleSpec{TargetRef: v1alpha1.LocalObjectReference{Name: "t"}}}, metav1.CreateOptions{})
			return err
		}},
		{"spec.rules", func() error {
			_, err := c.ClusterWatchRules().Create(ctx, &v1alpha1.ClusterWatchRule{ObjectMeta: metav1.ObjectMeta{Name: "bad-" + ns},
				Spec: v1alpha1.ClusterWatchRuleSpec{TargetRef: v1alpha1.NamespacedObjectReference{Name: "t", Namespace: ns}}}, metav1.CreateOptions{})
			return err
		}},
	}
	for _, tc := range cases {
		err := tc.create()
		if !apierrors.IsInvalid(err) {
			t.Errorf("want Invalid at %s, got %v", tc.field, err)
			continue
		}
		status := err.(apierrors.APIStatus).Status()
		found := false
		for _, cause := range status.Details.Causes {
			if cause.Field == tc.field {
				found = true
			}
		}
		if !found {
			t.Errorf("error %v does not name field %s", err, tc.field)
		}
		if strings.Contains(err.Error(), "secret@") {
			t.Errorf("error echoes credentials: %v", err)
		}
	}
	if l, _ := c.GitTargets(ns).List(ctx, metav1.ListOptions{}); len(l.Items) != 0 {
		t.Errorf("invalid objects were stored: %d", len(l.Items))
	}
	if l, _ := c.GitProviders(ns).List(ctx, metav1.ListOptions{}); len(l.Items) != 0 {
		t.Errorf("invalid providers were stored: %d", len(l.Items))
	}
}

// TestClientStatusIsDiscardedAndSubresourcesAreReadOnly: status sent on create or
// update is dropped; PUT and PATCH of status, gates and snapshot are refused.
func TestClientStatusIsDiscardedAndSubresourcesAreReadOnly(t *testing.T) {
	c, ns := srv.Client.ConfigbutlerV1alpha1(), namespace()
	ctx := testContext(t)
	forged := target(ns, "t", "p", "main", "a")
	forged.Status = v1alpha1.GitTargetStatus{
		LastCommit: "deadbeef",
		Conditions: []metav1.Condition{
			{Type: "Ready", Status: "True", Reason: "OK", Message: "forged", LastTransitionTime: metav1.Now()},
			{Type: "Validated", Status: "True", Reason: "OK", Message: "forged", LastTransitionTime: metav1.Now()},
		},
	}
	tg, err := c.GitTargets(ns).Create(ctx, forged, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	assertNotForged := func(tg *v1alpha1.GitTarget) {
		t.Helper()
		if tg.Status.LastCommit != "" || len(tg.Status.Conditions) != 1 || tg.Status.Conditions[0].Status != "False" {
			t.Fatalf("client status was stored: %+v", tg.Status)
		}
	}
	assertNotForged(tg)
	tg.Status = forged.Status
	tg.Spec.Path = "b"
	if tg, err = c.GitTargets(ns).Update(ctx, tg, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	assertNotForged(tg)
	got, _ := c.GitTargets(ns).Get(ctx, "t", metav1.GetOptions{})
	assertNotForged(got)

	// The generated UpdateStatus hits PUT .../status: no route for it.
	got.Status = forged.Status
	if _, err := c.GitTargets(ns).UpdateStatus(ctx, got, metav1.UpdateOptions{}); !apierrors.IsMethodNotSupported(err) {
		t.Errorf("UpdateStatus: %v, want MethodNotAllowed", err)
	}
	for _, sub := range []string{"status", "gates", "snapshot"} {
		rc := srv.Client.ConfigbutlerV1alpha1().RESTClient()
		err := rc.Patch(types.MergePatchType).Namespace(ns).Resource("gittargets").Name("t").SubResource(sub).
			Body([]byte(`{"status":{"lastCommit":"x"}}`)).Do(ctx).Error()
		if !apierrors.IsMethodNotSupported(err) {
			t.Errorf("PATCH %s: %v, want MethodNotAllowed", sub, err)
		}
		err = rc.Put().Namespace(ns).Resource("gittargets").Name("t").SubResource(sub).
			Body([]byte(`{"apiVersion":"configbutler.ai/v1alpha1","kind":"GitTarget","metadata":{"name":"t"}}`)).Do(ctx).Error()
		if !apierrors.IsMethodNotSupported(err) {
			t.Errorf("PUT %s: %v, want MethodNotAllowed", sub, err)
		}
	}
	for _, sub := range []string{"gitproviders", "watchrules"} {
		err := srv.Client.ConfigbutlerV1alpha1().RESTClient().Patch(types.MergePatchType).Namespace(ns).Resource(sub).
			Name("x").SubResource("status").Body([]byte(`{}`)).Do(ctx).Error()
		if !apierrors.IsMethodNotSupported(err) {
			t.Errorf("PATCH %s/status: %v, want MethodNotAllowed", sub, err)
		}
	}
	got2, _ := c.GitTargets(ns).Get(ctx, "t", metav1.GetOptions{})
	assertNotForged(got2)
}

func TestDiscoveryListsReadOnlySubresources(t *testing.T) {
	list, err := srv.Client.Discovery().ServerResourcesForGroupVersion("configbutler.ai/v1alpha1")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"gittargets/status": "GitTarget", "gittargets/gates": "GitTargetGates", "gittargets/snapshot": "GitTargetSnapshot",
		"gitproviders/status": "GitProvider", "watchrules/status": "WatchRule", "clusterwatchrules/status": "ClusterWatchRule",
	}
	seen := 0
	for _, r := range list.APIResources {
		if kind, ok := want[r.Name]; ok {
			seen++
			if r.Kind != kind || len(r.Verbs) != 1 || r.Verbs[0] != "get" {
				t.Errorf("%s: kind %s verbs %v, want %s [get]", r.Name, r.Kind, r.Verbs, kind)
			}
		}
		if r.Name == "clusterwatchrules" && r.Namespaced {
			t.Error("clusterwatchrules is namespaced")
		}
	}
	if seen != len(want) {
		t.Errorf("found %d of %d subresources", seen, len(want))
	}
}

func TestFieldSelectors(t *testing.T) {
	c, ns := srv.Client.ConfigbutlerV1alpha1(), namespace()
	ctx := testContext(t)
	for _, tg := range []*v1alpha1.GitTarget{
		target(ns, "a", "p1", "main", "a"), target(ns, "b", "p1", "env/dev", "b"), target(ns, "c", "p2", "main", "c"),
	} {
		if _, err := c.GitTargets(ns).Create(ctx, tg, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	for sel, want := range map[string]string{
		"spec.providerRef.name=p1":                  "a,b",
		"spec.branch=main":                          "a,c",
		"spec.branch=main,spec.providerRef.name=p2": "c",
		"spec.branch!=main":                         "b",
		"metadata.name=b":                           "b",
	} {
		l, err := c.GitTargets(ns).List(ctx, metav1.ListOptions{FieldSelector: sel})
		if err != nil {
			t.Fatalf("%s: %v", sel, err)
		}
		var names []string
		for _, i := range l.Items {
			names = append(names, i.Name)
		}
		if strings.Join(names, ",") != want {
			t.Errorf("%s: got %v, want %s", sel, names, want)
		}
	}
	if _, err := c.GitTargets(ns).List(ctx, metav1.ListOptions{FieldSelector: "spec.path=a"}); !apierrors.IsBadRequest(err) {
		t.Errorf("unsupported field selector: %v, want BadRequest", err)
	}
	// A field-selected watch sees only matching objects.
	w, err := c.GitTargets(ns).Watch(ctx, metav1.ListOptions{FieldSelector: "spec.branch=env/dev"})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	if _, err := c.GitTargets(ns).Create(ctx, target(ns, "d", "p1", "main", "d"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GitTargets(ns).Create(ctx, target(ns, "e", "p1", "env/dev", "e"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for {
		select {
		case ev := <-w.ResultChan():
			name := ev.Object.(*v1alpha1.GitTarget).Name
			if name == "d" {
				t.Fatal("watch with spec.branch=env/dev delivered target d on main")
			}
			if name == "e" {
				return
			}
		case <-time.After(20 * time.Second):
			t.Fatal("no event for target e")
		}
	}
}

func TestServerSideApply(t *testing.T) {
	c, ns := srv.Client.ConfigbutlerV1alpha1(), namespace()
	ctx := testContext(t)
	apply := func() *v1alpha1.GitTarget {
		t.Helper()
		ac := acv1alpha1.GitTarget("ssa", ns).WithSpec(acv1alpha1.GitTargetSpec().
			WithProviderRef(acv1alpha1.GitProviderReference().WithName("p")).
			WithBranch("main").WithPath("apps"))
		out, err := c.GitTargets(ns).Apply(ctx, ac, metav1.ApplyOptions{FieldManager: "it", Force: true})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	first := apply()
	second := apply()
	if first.ResourceVersion != second.ResourceVersion {
		t.Errorf("second apply was not a no-op: rv %s -> %s", first.ResourceVersion, second.ResourceVersion)
	}
	if len(second.ManagedFields) == 0 || second.ManagedFields[0].Manager != "it" {
		t.Errorf("managedFields: %+v", second.ManagedFields)
	}
	for _, f := range second.ManagedFields {
		if strings.Contains(string(f.FieldsV1.Raw), "f:status") {
			t.Errorf("a client manager owns status fields: %s", f.FieldsV1.Raw)
		}
	}
	for name, fn := range map[string]func() error{
		"gitprovider": func() error {
			_, err := c.GitProviders(ns).Apply(ctx, acv1alpha1.GitProvider("p", ns).WithSpec(acv1alpha1.GitProviderSpec().
				WithURL("git@github.com:o/r.git").WithAllowedBranches("main")), metav1.ApplyOptions{FieldManager: "it"})
			return err
		},
		"watchrule": func() error {
			_, err := c.WatchRules(ns).Apply(ctx, acv1alpha1.WatchRule("w", ns).WithSpec(acv1alpha1.WatchRuleSpec().
				WithTargetRef(acv1alpha1.LocalObjectReference().WithName("ssa")).
				WithRules(acv1alpha1.ResourceRule().WithAPIGroups("").WithResources("configmaps"))), metav1.ApplyOptions{FieldManager: "it"})
			return err
		},
		"clusterwatchrule": func() error {
			_, err := c.ClusterWatchRules().Apply(ctx, acv1alpha1.ClusterWatchRule("ssa-"+ns).WithSpec(acv1alpha1.ClusterWatchRuleSpec().
				WithTargetRef(acv1alpha1.NamespacedObjectReference().WithName("ssa").WithNamespace(ns)).
				WithRules(acv1alpha1.ClusterResourceRule().WithAPIGroups("").WithResources("namespaces").WithScope(v1alpha1.ClusterScope))), metav1.ApplyOptions{FieldManager: "it"})
			return err
		},
	} {
		if err := fn(); err != nil {
			t.Errorf("apply %s: %v", name, err)
		}
	}
}

// TestTables asks for the server-side Table of the main resource and both
// subresources, as kubectl does.
func TestTables(t *testing.T) {
	c, ns := srv.Client.ConfigbutlerV1alpha1(), namespace()
	ctx := testContext(t)
	if _, err := c.GitTargets(ns).Create(ctx, target(ns, "t", "p", "main", "apps"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	table := func(path string) *metav1.Table {
		t.Helper()
		raw, err := c.RESTClient().Get().AbsPath(path).SetHeader("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io").DoRaw(ctx)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		var tbl metav1.Table
		if err := json.Unmarshal(raw, &tbl); err != nil {
			t.Fatal(err)
		}
		return &tbl
	}
	base := "/apis/configbutler.ai/v1alpha1/namespaces/" + ns + "/gittargets"
	main := table(base)
	if len(main.Rows) != 1 || main.ColumnDefinitions[4].Name != "Ready" || main.Rows[0].Cells[4] != "False" || main.Rows[0].Cells[5] != "ValidationFailed" {
		t.Errorf("gittargets table: %+v", main)
	}
	gates := table(base + "/t/gates")
	if len(gates.Rows) != 6 || gates.Rows[0].Cells[0] != "Validated" || gates.Rows[5].Cells[0] != "Ready" {
		t.Errorf("gates table: %+v", gates.Rows)
	}
	snap := table(base + "/t/snapshot")
	if len(snap.Rows) != 1 || snap.ColumnDefinitions[3].Name != "Created" {
		t.Errorf("snapshot table: %+v", snap)
	}
	for _, r := range []string{"gitproviders", "watchrules"} {
		if tbl := table("/apis/configbutler.ai/v1alpha1/namespaces/" + ns + "/" + r); len(tbl.ColumnDefinitions) < 4 {
			t.Errorf("%s table has only %d columns", r, len(tbl.ColumnDefinitions))
		}
	}
	if tbl := table("/apis/configbutler.ai/v1alpha1/clusterwatchrules"); tbl.ColumnDefinitions[1].Name != "Target" {
		t.Errorf("clusterwatchrules columns %+v", tbl.ColumnDefinitions)
	}
}

// TestStandaloneAuthentication: only holders of the kubeconfig's credentials get in.
func TestStandaloneAuthentication(t *testing.T) {
	insecure := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}, Timeout: 10 * time.Second}
	get := func(token string) int {
		req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, srv.URL+"/apis/configbutler.ai/v1alpha1/gittargets", nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := insecure.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := get(""); code != http.StatusUnauthorized {
		t.Errorf("anonymous: %d, want 401", code)
	}
	if code := get("wrong-token"); code != http.StatusUnauthorized {
		t.Errorf("wrong token: %d, want 401", code)
	}
	if code := get(srv.Token); code != http.StatusOK {
		t.Errorf("token: %d, want 200", code)
	}
	// The kubeconfig's client certificate (used by srv.Client) works, and the
	// server's certificate verifies against the kubeconfig's CA.
	rc, err := rest.RESTClientFor(withNegotiated(srv.Config))
	if err != nil {
		t.Fatal(err)
	}
	if err := rc.Get().AbsPath("/apis/configbutler.ai/v1alpha1").Do(context.Background()).Error(); err != nil {
		t.Errorf("client certificate: %v", err)
	}
}

func withNegotiated(c *rest.Config) *rest.Config {
	cfg := rest.CopyConfig(c)
	cfg.GroupVersion = &v1alpha1.SchemeGroupVersion
	cfg.APIPath = "/apis"
	cfg.NegotiatedSerializer = scheme.Codecs.WithoutConversion()
	return cfg
}
