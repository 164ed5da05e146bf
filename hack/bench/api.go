package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler/v1alpha1"
)

const (
	apiNamespace = "bench-api"
	crdGroup     = "crd.configbutler.ai"
)

var (
	oursGVR = v1alpha1.SchemeGroupVersion.WithResource("gittargets")
	crdGVR  = schema.GroupVersionResource{Group: crdGroup, Version: "v1alpha1", Resource: "gittargets"}
)

// endpoint is one way of serving GitTargets: our server straight, our server
// through kube-apiserver, or the CustomResourceDefinition in kube-apiserver.
type endpoint struct {
	name string
	gvr  schema.GroupVersionResource
	raw  rest.Interface // raw bytes: the server's cost, not the client's decoding
	dyn  dynamic.Interface
}

func (ep endpoint) path(name string) string {
	p := fmt.Sprintf("/apis/%s/%s/namespaces/%s/%s", ep.gvr.Group, ep.gvr.Version, apiNamespace, ep.gvr.Resource)
	if name != "" {
		p += "/" + name
	}
	return p
}

// benchAPI: 1,000 GitTargets driven to Ready by the lifecycle, the same objects
// (spec and status) as custom resources of a CRD with the same schema and
// printer columns, then GET, LIST and watch latency on each endpoint,
// interleaved so that drift on the machine hits all three alike.
func (e *env) benchAPI(ctx context.Context) error {
	n := e.opts.targets
	base, _ := rssKB(e.st.Server.Pid())
	e.res.add(figure{Name: "RSS, server idle, no objects", Unit: "MiB", Ours: float64(base) / 1024}, 0, 0)
	if err := e.ensureNamespace(ctx, apiNamespace); err != nil {
		return err
	}
	if err := e.setupGitProvider(ctx, apiNamespace, "bench-api", "bench-api", ""); err != nil {
		return err
	}

	// Our GitTargets, all on one branch of one repository, one path each.
	ramp := e.startCPUProfile("api-ramp", 30)
	start := time.Now()
	if err := parallel(n, 16, func(i int) error {
		t := &v1alpha1.GitTarget{
			ObjectMeta: metav1.ObjectMeta{Name: targetName(i), Namespace: apiNamespace},
			Spec: v1alpha1.GitTargetSpec{
				ProviderRef: v1alpha1.GitProviderReference{Name: "bench-api"},
				Branch:      "main",
				Path:        "targets/" + targetName(i),
			},
		}
		_, err := e.cbDirect.ConfigbutlerV1alpha1().GitTargets(apiNamespace).Create(ctx, t, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			return nil
		}
		return err
	}); err != nil {
		return fmt.Errorf("creating GitTargets: %w", err)
	}
	created := time.Since(start)
	e.res.note("created %d GitTargets in %s (%.0f/s, straight to our server, 16 clients)", n, created.Round(time.Millisecond), float64(n)/created.Seconds())
	if err := e.waitAllReady(ctx, n, 15*time.Minute); err != nil {
		return err
	}
	e.res.add(figure{Name: fmt.Sprintf("%d GitTargets created -> all Ready", n), Unit: "s", Ours: time.Since(start).Seconds()}, 0, 0)
	ramp()

	// Idle memory: 1,000 Ready targets, nothing changing.
	time.Sleep(10 * time.Second)
	cur, _ := rssKB(e.st.Server.Pid())
	e.heapProfile(ctx, "api-idle")
	e.res.add(figure{Name: fmt.Sprintf("RSS, %d targets Ready and idle", n), Unit: "MiB", Ours: float64(cur) / 1024}, 0, 150)

	if err := e.setupCRD(ctx, n); err != nil {
		return err
	}

	// Measure a server at rest: the lifecycle reconciles every target the
	// strip above touched.
	e.waitIdle(ctx)
	direct := endpoint{name: "ours, straight", gvr: oursGVR, raw: rawClient(e.direct), dyn: dynamic.NewForConfigOrDie(e.direct)}
	aggr := endpoint{name: "ours, through kube-apiserver", gvr: oursGVR, raw: rawClient(e.admin), dyn: e.dyn}
	crd := endpoint{name: "CRD", gvr: crdGVR, raw: rawClient(e.admin), dyn: e.dyn}
	eps := []endpoint{direct, aggr, crd}

	// GET: random names, the three endpoints in turn.
	const gets = 3000
	lat := make([][]time.Duration, len(eps))
	prof := e.startCPUProfile("api-get", 10)
	for i := 0; i < gets+300; i++ {
		name := targetName(rand.IntN(n))
		for j, ep := range eps {
			t0 := time.Now()
			if _, err := ep.raw.Get().AbsPath(ep.path(name)).DoRaw(ctx); err != nil {
				return fmt.Errorf("GET %s: %w", ep.path(name), err)
			}
			if i >= 300 { // the first 300 warm up connections and caches
				lat[j] = append(lat[j], time.Since(t0))
			}
		}
	}
	prof()
	crdP50, crdP99 := percentile(lat[2], 50), percentile(lat[2], 99)
	for j, max50 := range []float64{0.8, 1.5} {
		e.res.add(figure{Name: "GET p50, " + eps[j].name, Unit: "ms", Ours: ms(percentile(lat[j], 50)), Baseline: ms(crdP50), BaselineName: "CRD"}, max50, 0)
		e.res.add(figure{Name: "GET p99, " + eps[j].name, Unit: "ms", Ours: ms(percentile(lat[j], 99)), Baseline: ms(crdP99), BaselineName: "CRD"}, 0, 0)
	}

	// LIST of all n, as JSON.
	const lists = 40
	lat = make([][]time.Duration, len(eps))
	var sizes [3]int
	prof = e.startCPUProfile("api-list", 10)
	for i := 0; i < lists+5; i++ {
		for j, ep := range eps {
			t0 := time.Now()
			b, err := ep.raw.Get().AbsPath(ep.path("")).DoRaw(ctx)
			if err != nil {
				return fmt.Errorf("LIST %s: %w", ep.path(""), err)
			}
			if i >= 5 {
				lat[j] = append(lat[j], time.Since(t0))
			}
			sizes[j] = len(b)
		}
	}
	prof()
	for j, max := range []float64{0.4, 0.5} {
		e.res.add(figure{Name: fmt.Sprintf("LIST %d p50, %s", n, eps[j].name), Unit: "ms", Ours: ms(percentile(lat[j], 50)),
			Baseline: ms(percentile(lat[2], 50)), BaselineName: "CRD"}, max, 0)
	}
	e.res.note("LIST response sizes: ours %d bytes, CRD %d bytes (same objects)", sizes[0], sizes[2])

	// Watch: time from sending a change to a watcher seeing it, the three
	// endpoints in turn.
	const changes = 100
	wl, err := watchLatency(ctx, eps, n, changes)
	if err != nil {
		return err
	}
	for j := range 2 {
		e.res.add(figure{Name: "watch p50, " + eps[j].name, Unit: "ms", Ours: ms(percentile(wl[j], 50)), Baseline: ms(percentile(wl[2], 50)), BaselineName: "CRD"}, 0, 0)
	}
	return e.cleanupAPI(ctx)
}

func targetName(i int) string { return fmt.Sprintf("t-%04d", i) }

// waitAllReady polls (LIST straight to our server) until n targets are Ready.
func (e *env) waitAllReady(ctx context.Context, n int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	last := ""
	for {
		l, err := e.cbDirect.ConfigbutlerV1alpha1().GitTargets(apiNamespace).List(ctx, metav1.ListOptions{})
		if err != nil {
			return err
		}
		ready := 0
		reasons := map[string]int{}
		for _, t := range l.Items {
			for _, c := range t.Status.Conditions {
				if c.Type == v1alpha1.ConditionReady {
					reasons[c.Reason]++
					if c.Status == metav1.ConditionTrue {
						ready++
					}
				}
			}
		}
		summary := fmt.Sprint(reasons)
		if summary != last {
			fmt.Fprintf(os.Stderr, "[bench] targets: %d/%d Ready %v\n", ready, n, reasons)
			last = summary
		}
		if ready >= n {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d of %d targets Ready after %s: %v", ready, n, timeout, reasons)
		}
		time.Sleep(time.Second)
	}
}

// setupCRD serves the same schema as a CustomResourceDefinition (our OpenAPI v3
// schema of GitTarget, inlined; a status subresource; the same printer
// columns) and copies every GitTarget, spec and status, into it.
func (e *env) setupCRD(ctx context.Context, n int) error {
	b, err := rawClient(e.direct).Get().AbsPath("/openapi/v3/apis/configbutler.ai/v1alpha1").DoRaw(ctx)
	if err != nil {
		return fmt.Errorf("our OpenAPI v3: %w", err)
	}
	var doc struct {
		Components struct {
			Schemas map[string]map[string]any `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return err
	}
	var root map[string]any
	for name, s := range doc.Components.Schemas {
		if strings.HasSuffix(name, ".v1alpha1.GitTarget") {
			root = s
		}
	}
	if root == nil {
		return fmt.Errorf("no GitTarget schema in our OpenAPI v3")
	}
	schemaProps := inlineSchema(root, doc.Components.Schemas, 0)
	props := schemaProps["properties"].(map[string]any)
	props["metadata"] = map[string]any{"type": "object"}

	col := func(name, typ, path, desc string, prio int) map[string]any {
		return map[string]any{"name": name, "type": typ, "jsonPath": path, "description": desc, "priority": prio}
	}
	crd := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apiextensions.k8s.io/v1",
		"kind":       "CustomResourceDefinition",
		"metadata":   map[string]any{"name": "gittargets." + crdGroup},
		"spec": map[string]any{
			"group": crdGroup,
			"names": map[string]any{"kind": "GitTarget", "listKind": "GitTargetList", "plural": "gittargets", "singular": "gittarget"},
			"scope": "Namespaced",
			"versions": []any{map[string]any{
				"name": "v1alpha1", "served": true, "storage": true,
				"schema":       map[string]any{"openAPIV3Schema": schemaProps},
				"subresources": map[string]any{"status": map[string]any{}},
				"additionalPrinterColumns": []any{
					col("Provider", "string", ".spec.providerRef.name", "GitProvider", 0),
					col("Branch", "string", ".spec.branch", "branch", 0),
					col("Path", "string", ".spec.path", "path", 0),
					col("Ready", "string", `.status.conditions[?(@.type=="Ready")].status`, "Ready", 0),
					col("Reason", "string", `.status.conditions[?(@.type=="Ready")].reason`, "reason", 0),
					col("Last Commit", "string", ".status.lastCommit", "last commit", 0),
					col("Age", "date", ".metadata.creationTimestamp", "age", 0),
					col("Gate", "string", `.status.conditions[?(@.type=="Ready")].message`, "blocking gate", 1),
				},
			}},
		},
	}}
	crdRes := schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	if _, err := e.dyn.Resource(crdRes).Create(ctx, crd, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating the CRD: %w", err)
	}
	if err := poll(ctx, 60*time.Second, func() error {
		_, err := e.dyn.Resource(crdGVR).Namespace(apiNamespace).List(ctx, metav1.ListOptions{Limit: 1})
		return err
	}); err != nil {
		return fmt.Errorf("CRD not served: %w", err)
	}

	ours, err := e.cbDirect.ConfigbutlerV1alpha1().GitTargets(apiNamespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	start := time.Now()
	err = parallel(len(ours.Items), 16, func(i int) error {
		t := ours.Items[i]
		obj, err := runtime.DefaultUnstructuredConverter.ToUnstructured(&t)
		if err != nil {
			return err
		}
		u := &unstructured.Unstructured{Object: obj}
		u.SetAPIVersion(crdGroup + "/v1alpha1")
		u.SetKind("GitTarget")
		status := obj["status"]
		u.SetResourceVersion("")
		u.SetUID("")
		u.SetCreationTimestamp(metav1.Time{})
		u.SetManagedFields(nil)
		u.SetGeneration(0)
		delete(obj, "status")
		got, err := e.dyn.Resource(crdGVR).Namespace(apiNamespace).Create(ctx, u, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			got, err = e.dyn.Resource(crdGVR).Namespace(apiNamespace).Get(ctx, u.GetName(), metav1.GetOptions{})
		}
		if err != nil {
			return err
		}
		got.Object["status"] = status
		_, err = e.dyn.Resource(crdGVR).Namespace(apiNamespace).UpdateStatus(ctx, got, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		return fmt.Errorf("creating custom resources: %w", err)
	}
	e.res.note("created %d custom resources with status in %s (16 clients)", len(ours.Items), time.Since(start).Round(time.Millisecond))

	// The same objects on both sides: our status is written by the server
	// itself, not through a field manager, so managedFields differ; strip them
	// on both sides ("managedFields: [{}]" resets them).
	strip := []byte(`{"metadata":{"managedFields":[{}]}}`)
	if err := parallel(len(ours.Items), 16, func(i int) error {
		name := ours.Items[i].Name
		if _, err := e.cbDirect.ConfigbutlerV1alpha1().GitTargets(apiNamespace).Patch(ctx, name, types.MergePatchType, strip, metav1.PatchOptions{}); err != nil {
			return err
		}
		_, err := e.dyn.Resource(crdGVR).Namespace(apiNamespace).Patch(ctx, name, types.MergePatchType, strip, metav1.PatchOptions{})
		return err
	}); err != nil {
		return fmt.Errorf("stripping managedFields: %w", err)
	}
	ob, err := rawClient(e.direct).Get().AbsPath(endpoint{gvr: oursGVR}.path(targetName(0))).DoRaw(ctx)
	if err != nil {
		return err
	}
	cb, err := rawClient(e.admin).Get().AbsPath(endpoint{gvr: crdGVR}.path(targetName(0))).DoRaw(ctx)
	if err != nil {
		return err
	}
	e.res.note("one object as JSON: ours %d bytes, CRD %d bytes", len(ob), len(cb))
	return nil
}

// inlineSchema resolves $ref (also as allOf: [{$ref}]) into a structural
// schema a CRD accepts, keeping only the keywords CRDs know.
func inlineSchema(s map[string]any, all map[string]map[string]any, depth int) map[string]any {
	if depth > 20 {
		return map[string]any{"type": "object", "x-kubernetes-preserve-unknown-fields": true}
	}
	if ref, ok := s["$ref"].(string); ok {
		return inlineRef(ref, s, all, depth)
	}
	if allOf, ok := s["allOf"].([]any); ok && len(allOf) == 1 {
		if m, ok := allOf[0].(map[string]any); ok {
			if ref, ok := m["$ref"].(string); ok {
				return inlineRef(ref, s, all, depth)
			}
		}
	}
	out := map[string]any{}
	for k, v := range s {
		switch k {
		case "type", "format", "description", "required", "enum", "x-kubernetes-list-type",
			"x-kubernetes-list-map-keys", "x-kubernetes-map-type", "pattern", "maxLength", "minLength",
			"maximum", "minimum", "maxItems", "minItems":
			out[k] = v
		case "properties":
			props := map[string]any{}
			for name, p := range v.(map[string]any) {
				props[name] = inlineSchema(p.(map[string]any), all, depth+1)
			}
			out[k] = props
		case "items":
			out[k] = inlineSchema(v.(map[string]any), all, depth+1)
		case "additionalProperties":
			if m, ok := v.(map[string]any); ok {
				out[k] = inlineSchema(m, all, depth+1)
			}
		}
	}
	return out
}

func inlineRef(ref string, s map[string]any, all map[string]map[string]any, depth int) map[string]any {
	name := strings.TrimPrefix(ref, "#/components/schemas/")
	switch {
	case strings.HasSuffix(name, "meta.v1.Time"):
		return map[string]any{"type": "string", "format": "date-time"}
	case strings.HasSuffix(name, "meta.v1.ObjectMeta"):
		return map[string]any{"type": "object"}
	}
	target, ok := all[name]
	if !ok {
		return map[string]any{"type": "object", "x-kubernetes-preserve-unknown-fields": true}
	}
	out := inlineSchema(target, all, depth+1)
	if d, ok := s["description"]; ok {
		out["description"] = d
	}
	return out
}

// watchLatency opens a watch on each endpoint, then n times changes a label on
// a random object through each endpoint in turn, measuring from sending the
// change to its watcher seeing it.
func watchLatency(ctx context.Context, eps []endpoint, objects, n int) ([][]time.Duration, error) {
	watchers := make([]watch.Interface, len(eps))
	for j, ep := range eps {
		res := ep.dyn.Resource(ep.gvr).Namespace(apiNamespace)
		l, err := res.List(ctx, metav1.ListOptions{Limit: 1})
		if err != nil {
			return nil, err
		}
		if watchers[j], err = res.Watch(ctx, metav1.ListOptions{ResourceVersion: l.GetResourceVersion()}); err != nil {
			return nil, fmt.Errorf("watch %s: %w", ep.name, err)
		}
		defer watchers[j].Stop()
	}
	out := make([][]time.Duration, len(eps))
	tag := fmt.Sprintf("%d", time.Now().UnixNano())
	for i := 0; i < n; i++ {
		for j, ep := range eps {
			name := targetName(rand.IntN(objects))
			want := fmt.Sprintf("%s-%d-%d", tag, i, j)
			patch := fmt.Sprintf(`{"metadata":{"labels":{"bench-seq":%q}}}`, want)
			t0 := time.Now()
			if _, err := ep.dyn.Resource(ep.gvr).Namespace(apiNamespace).Patch(ctx, name, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
				return nil, fmt.Errorf("patch through %s: %w", ep.name, err)
			}
			timeout := time.After(30 * time.Second)
		wait:
			for {
				select {
				case ev, ok := <-watchers[j].ResultChan():
					if !ok {
						return nil, fmt.Errorf("watch %s closed", ep.name)
					}
					u, ok := ev.Object.(*unstructured.Unstructured)
					if ev.Type == watch.Modified && ok && u.GetName() == name && u.GetLabels()["bench-seq"] == want {
						out[j] = append(out[j], time.Since(t0))
						break wait
					}
				case <-timeout:
					return nil, fmt.Errorf("watch %s: no event for %s within 30s", ep.name, name)
				}
			}
		}
	}
	return out, nil
}

// cleanupAPI removes the targets, the CRD and the provider of the API phase.
func (e *env) cleanupAPI(ctx context.Context) error {
	crdRes := schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	_ = e.dyn.Resource(crdRes).Delete(ctx, "gittargets."+crdGroup, metav1.DeleteOptions{})
	if err := e.cbDirect.ConfigbutlerV1alpha1().GitTargets(apiNamespace).DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{}); err != nil {
		return err
	}
	return e.cbDirect.ConfigbutlerV1alpha1().GitProviders(apiNamespace).Delete(ctx, "bench-api", metav1.DeleteOptions{})
}

// --- shared helpers ---------------------------------------------------------

func rawClient(c *rest.Config) rest.Interface {
	return kubernetes.NewForConfigOrDie(c).CoreV1().RESTClient()
}

func (e *env) ensureNamespace(ctx context.Context, ns string) error {
	_, err := e.kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	// A new namespace reaches every admission cache shortly after.
	return poll(ctx, 30*time.Second, func() error {
		_, err := e.kube.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{Limit: 1})
		return err
	})
}

// setupGitProvider creates a bare repository on the stack's git server, its
// credentials Secret and a GitProvider for it (interval "" keeps the default).
func (e *env) setupGitProvider(ctx context.Context, ns, name, repo, interval string) error {
	if _, err := os.Stat(e.st.Git.RepoPath(repo)); err != nil {
		if _, err := e.st.Git.CreateBareRepo(repo); err != nil {
			return err
		}
	}
	sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "git-credentials", Namespace: ns},
		StringData: map[string]string{"username": "gitops", "password": e.st.GitPassword}}
	if _, err := e.kube.CoreV1().Secrets(ns).Create(ctx, sec, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	p := &v1alpha1.GitProvider{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: v1alpha1.GitProviderSpec{
			URL:             e.st.Git.URL(repo),
			SecretRef:       &v1alpha1.LocalObjectReference{Name: "git-credentials"},
			AllowedBranches: []string{"*"},
		},
	}
	if interval != "" {
		d, err := time.ParseDuration(interval)
		if err != nil {
			return err
		}
		p.Spec.Push.Interval = metav1.Duration{Duration: d}
	}
	_, err := e.cbDirect.ConfigbutlerV1alpha1().GitProviders(ns).Create(ctx, p, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	return err
}

// parallel runs fn(0..n-1) on workers goroutines and returns the first error.
func parallel(n, workers int, fn func(i int) error) error {
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	next := make(chan int)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := fn(i); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
				}
			}
		}()
	}
	for i := 0; i < n; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
	return first
}

func poll(ctx context.Context, timeout time.Duration, fn func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := fn()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// startCPUProfile records a CPU profile of our server for secs seconds into
// <out>/<name>.pprof; the returned function waits for it. Best effort: a
// failure is noted, not fatal.
func (e *env) startCPUProfile(name string, secs int) func() {
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		b, err := rawClient(e.direct).Get().AbsPath("/debug/pprof/profile").Param("seconds", fmt.Sprint(secs)).
			Timeout(time.Duration(secs+60) * time.Second).DoRaw(context.Background())
		if err != nil {
			e.res.note("profile %s: %v", name, err)
			return
		}
		_ = os.WriteFile(filepath.Join(e.opts.out, name+".pprof"), b, 0o644)
	}()
	return func() { <-stopped }
}

// heapProfile saves our server's heap profile into <out>/<name>.heap.pprof.
func (e *env) heapProfile(ctx context.Context, name string) {
	b, err := rawClient(e.direct).Get().AbsPath("/debug/pprof/heap").DoRaw(ctx)
	if err != nil {
		e.res.note("heap profile %s: %v", name, err)
		return
	}
	_ = os.WriteFile(filepath.Join(e.opts.out, name+".heap.pprof"), b, 0o644)
}

// waitIdle waits (at most a minute) until our server uses less than 5% of a
// core over a second.
func (e *env) waitIdle(ctx context.Context) {
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		before := cpuTicks(e.st.Server.Pid())
		time.Sleep(time.Second)
		if used := cpuTicks(e.st.Server.Pid()) - before; used < 5 { // clock ticks are 1/100 s
			return
		}
	}
	e.res.note("our server was still busy after a minute when the API measurements began")
}

// cpuTicks is a process's user+system CPU time in clock ticks.
func cpuTicks(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The fields after the command name (which may hold spaces) in parentheses.
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	s, _ := strconv.ParseInt(f[12], 10, 64)
	return u + s
}
