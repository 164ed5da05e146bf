package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"

	clientv3 "go.etcd.io/etcd/client/v3"

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
	e.memNote(ctx, "server idle, no objects")
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
	e.memNote(ctx, fmt.Sprintf("%d targets Ready and idle", n))
	e.res.add(figure{Name: fmt.Sprintf("RSS, %d targets Ready and idle", n), Unit: "MiB", Ours: float64(cur) / 1024}, 0, 120)

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
	sars, sarTime := e.metricSum(ctx, "apiserver_delegated_authz_request_total"), e.metricSum(ctx, "apiserver_delegated_authz_request_duration_seconds_sum")
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
	if n := e.metricSum(ctx, "apiserver_delegated_authz_request_total") - sars; sars >= 0 && n > 0 {
		e.res.note("authorization: %d of our %d GETs asked kube-apiserver (a SubjectAccessReview, cached 10 s per user, verb and object name; the bench's admin is in system:masters, which needs none), %.2f ms each on average",
			int(n), 2*gets+600, 1000*(e.metricSum(ctx, "apiserver_delegated_authz_request_duration_seconds_sum")-sarTime)/n)
	}

	// The fixed cost of a request: the group-version document (no storage, no
	// object), on the same connections. GET minus this is what storage, Ready
	// and encoding add; the rest is TLS, HTTP/2, the filter chain and the
	// machine, which the CRD pays alike.
	fixed := make([][]time.Duration, len(eps))
	etcd, err := clientv3.New(clientv3.Config{Endpoints: []string{e.st.EtcdURL}, DialTimeout: 10 * time.Second})
	if err != nil {
		return err
	}
	defer etcd.Close()
	var etcdGet []time.Duration
	for i := 0; i < 1000+100; i++ {
		t0 := time.Now()
		key := "/registry/configbutler.ai/configbutler.ai/gittargets/" + apiNamespace + "/" + targetName(rand.IntN(n))
		resp, err := etcd.Get(ctx, key)
		if err != nil {
			return fmt.Errorf("etcd GET: %w", err)
		}
		if resp.Count != 1 {
			return fmt.Errorf("etcd GET %s: no such key", key)
		}
		if i >= 100 {
			etcdGet = append(etcdGet, time.Since(t0))
		}
		for j, ep := range eps {
			t0 := time.Now()
			if _, err := ep.raw.Get().AbsPath("/apis/" + ep.gvr.Group + "/" + ep.gvr.Version).DoRaw(ctx); err != nil {
				return fmt.Errorf("GET /apis/%s/%s: %w", ep.gvr.Group, ep.gvr.Version, err)
			}
			if i >= 100 {
				fixed[j] = append(fixed[j], time.Since(t0))
			}
		}
	}
	e.res.note("etcd linearizable GET of one GitTarget's key p50, from the bench process: %.2f ms (the read every GET with resourceVersion=\"\" makes, ours and the CRD's alike)", ms(percentile(etcdGet, 50)))
	e.res.note("GET of the group-version document p50 (the fixed cost of a request): ours straight %.2f ms, ours through kube-apiserver %.2f ms, CRD %.2f ms; GET of an object minus it: %.2f, %.2f, %.2f ms",
		ms(percentile(fixed[0], 50)), ms(percentile(fixed[1], 50)), ms(percentile(fixed[2], 50)),
		ms(percentile(lat[0], 50))-ms(percentile(fixed[0], 50)), ms(percentile(lat[1], 50))-ms(percentile(fixed[1], 50)), ms(crdP50)-ms(percentile(fixed[2], 50)))
	for j, max50 := range []float64{0.8, 1.3} {
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

// cleanupAPI removes the targets, the CRD and the provider of the API phase.
func (e *env) cleanupAPI(ctx context.Context) error {
	crdRes := schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	_ = e.dyn.Resource(crdRes).Delete(ctx, "gittargets."+crdGroup, metav1.DeleteOptions{})
	if err := e.cbDirect.ConfigbutlerV1alpha1().GitTargets(apiNamespace).DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{}); err != nil {
		return err
	}
	return e.cbDirect.ConfigbutlerV1alpha1().GitProviders(apiNamespace).Delete(ctx, "bench-api", metav1.DeleteOptions{})
}
