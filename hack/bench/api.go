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

// apiPhase: 1,000 GitTargets driven to Ready by the lifecycle, the same
// objects (spec and status) as custom resources of a CRD with the same schema
// and printer columns, then GET, LIST and watch latency on each endpoint,
// interleaved so that drift on the machine hits all three alike.
type apiPhase struct {
	*env
	n int
	// eps are ours straight, ours through kube-apiserver, and the CRD (the
	// baseline, last).
	eps []endpoint
}

// benchAPI runs the API phase.
func (e *env) benchAPI(ctx context.Context) error {
	return (&apiPhase{env: e, n: e.opts.targets}).run(ctx)
}

func (p *apiPhase) run(ctx context.Context) error {
	if err := p.ramp(ctx); err != nil {
		return err
	}
	if err := p.setupCRD(ctx); err != nil {
		return err
	}
	// Measure a server at rest: the lifecycle reconciles every target
	// setupCRD's managedFields strip touched.
	p.probe.waitIdle(ctx)
	direct := endpoint{name: "ours, straight", gvr: oursGVR, raw: rawClient(p.direct), dyn: dynamic.NewForConfigOrDie(p.direct)}
	aggr := endpoint{name: "ours, through kube-apiserver", gvr: oursGVR, raw: rawClient(p.admin), dyn: p.dyn}
	crd := endpoint{name: "CRD", gvr: crdGVR, raw: rawClient(p.admin), dyn: p.dyn}
	p.eps = []endpoint{direct, aggr, crd}

	get, err := p.measureGet(ctx)
	if err != nil {
		return err
	}
	etcd, err := clientv3.New(clientv3.Config{Endpoints: []string{p.st.EtcdURL}, DialTimeout: 10 * time.Second})
	if err != nil {
		return err
	}
	defer etcd.Close()
	if err := p.measureFixedCost(ctx, etcd, get); err != nil {
		return err
	}
	if err := p.measureList(ctx); err != nil {
		return err
	}
	if err := p.measureWatch(ctx); err != nil {
		return err
	}
	return p.cleanup(ctx)
}

// ramp creates the GitTargets, all on one branch of one repository, one path
// each, and times them to Ready; our server's memory before and after.
func (p *apiPhase) ramp(ctx context.Context) error {
	n := p.n
	base, _ := rssKB(p.st.Server.Pid())
	p.res.add(figure{Name: "RSS, server idle, no objects", Unit: "MiB", Ours: float64(base) / 1024}, 0, 0)
	p.probe.memNote(ctx, "server idle, no objects")
	if err := p.ensureNamespace(ctx, apiNamespace); err != nil {
		return err
	}
	if err := p.setupGitProvider(ctx, apiNamespace, "bench-api", "bench-api", ""); err != nil {
		return err
	}

	ramp := p.probe.startCPUProfile("api-ramp", 30)
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
		_, err := p.cbDirect.ConfigbutlerV1alpha1().GitTargets(apiNamespace).Create(ctx, t, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			return nil
		}
		return err
	}); err != nil {
		return fmt.Errorf("creating GitTargets: %w", err)
	}
	created := time.Since(start)
	p.res.note("created %d GitTargets in %s (%.0f/s, straight to our server, 16 clients)", n, created.Round(time.Millisecond), float64(n)/created.Seconds())
	if err := p.waitAllReady(ctx, n, 15*time.Minute); err != nil {
		return err
	}
	p.res.add(figure{Name: fmt.Sprintf("%d GitTargets created -> all Ready", n), Unit: "s", Ours: time.Since(start).Seconds()}, 0, 0)
	ramp()
	// Every write of a GitTarget is an event the watch cache keeps for at
	// least 75 s, a decoded copy each: the bring-up's writes are what the idle
	// heap holds beyond the targets themselves.
	gt := []string{`group="configbutler.ai"`, `resource="gittargets"`}
	e, _ := p.probe.exposition(ctx)
	events := sumSeries(e, "apiserver_watch_cache_events_received_total", gt)
	p.res.note("GitTarget writes to bring %d targets to Ready: %.0f (%.1f per target); the watch cache's history holds %.0f events",
		n, events, events/float64(n), sumSeries(e, "watch_cache_capacity", gt))

	// Idle memory: 1,000 Ready targets, nothing changing.
	time.Sleep(10 * time.Second)
	cur, _ := rssKB(p.st.Server.Pid())
	p.probe.heapProfile(ctx, "api-idle")
	p.probe.memNote(ctx, fmt.Sprintf("%d targets Ready and idle", n))
	p.res.add(figure{Name: fmt.Sprintf("RSS, %d targets Ready and idle", n), Unit: "MiB", Ours: float64(cur) / 1024}, 0, 120)

	// A minute later: the branch worker has let go of its clone's caches
	// (worker.DefaultIdleCaches), and the quiet server has given the heap's
	// free pages back (pkg/idlememory).
	time.Sleep(time.Minute)
	later, _ := rssKB(p.st.Server.Pid())
	p.probe.heapProfile(ctx, "api-idle-later")
	p.probe.memNote(ctx, fmt.Sprintf("%d targets idle for a minute more", n))
	p.res.add(figure{Name: fmt.Sprintf("RSS, %d targets idle for a minute more", n), Unit: "MiB", Ours: float64(later) / 1024}, 0, 0)
	return nil
}

// gets is how many GETs each endpoint gets measured (after 300 to warm up).
const gets = 3000

// measureGet: GET of random names, the three endpoints in turn; it returns
// the latencies per endpoint and notes what authorization asked of
// kube-apiserver meanwhile.
func (p *apiPhase) measureGet(ctx context.Context) ([][]time.Duration, error) {
	n, eps := p.n, p.eps
	lat := make([][]time.Duration, len(eps))
	sars, sarTime := p.probe.metricSum(ctx, "apiserver_delegated_authz_request_total"), p.probe.metricSum(ctx, "apiserver_delegated_authz_request_duration_seconds_sum")
	prof := p.probe.startCPUProfile("api-get", 10)
	for i := 0; i < gets+300; i++ {
		name := targetName(rand.IntN(n))
		for j, ep := range eps {
			t0 := time.Now()
			if _, err := ep.raw.Get().AbsPath(ep.path(name)).DoRaw(ctx); err != nil {
				return nil, fmt.Errorf("GET %s: %w", ep.path(name), err)
			}
			if i >= 300 { // the first 300 warm up connections and caches
				lat[j] = append(lat[j], time.Since(t0))
			}
		}
	}
	prof()
	if n := p.probe.metricSum(ctx, "apiserver_delegated_authz_request_total") - sars; sars >= 0 && n > 0 {
		p.res.note("authorization: %d of our %d GETs asked kube-apiserver (a SubjectAccessReview, cached 10 s per user, verb and object name; the bench's admin is in system:masters, which needs none), %.2f ms each on average",
			int(n), 2*gets+600, 1000*(p.probe.metricSum(ctx, "apiserver_delegated_authz_request_duration_seconds_sum")-sarTime)/n)
	}
	return lat, nil
}

// measureFixedCost measures the fixed cost of a request: the group-version
// document (no storage, no object), on the same connections. GET minus this
// is what storage, Ready and encoding add; the rest is TLS, HTTP/2, the
// filter chain and the machine, which the CRD pays alike. Beside it, etcd's
// own GET of a GitTarget's key. Then it records the GET figures (get).
func (p *apiPhase) measureFixedCost(ctx context.Context, etcd *clientv3.Client, get [][]time.Duration) error {
	eps := p.eps
	fixed := make([][]time.Duration, len(eps))
	var etcdGet []time.Duration
	for i := 0; i < 1000+100; i++ {
		t0 := time.Now()
		key := "/registry/configbutler.ai/configbutler.ai/gittargets/" + apiNamespace + "/" + targetName(rand.IntN(p.n))
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
	crdP50, crdP99 := percentile(get[2], 50), percentile(get[2], 99)
	p.res.note("etcd linearizable GET of one GitTarget's key p50, from the bench process: %.2f ms (the read every GET with resourceVersion=\"\" makes, ours and the CRD's alike)", ms(percentile(etcdGet, 50)))
	p.res.note("GET of the group-version document p50 (the fixed cost of a request): ours straight %.2f ms, ours through kube-apiserver %.2f ms, CRD %.2f ms; GET of an object minus it: %.2f, %.2f, %.2f ms",
		ms(percentile(fixed[0], 50)), ms(percentile(fixed[1], 50)), ms(percentile(fixed[2], 50)),
		ms(percentile(get[0], 50))-ms(percentile(fixed[0], 50)), ms(percentile(get[1], 50))-ms(percentile(fixed[1], 50)), ms(crdP50)-ms(percentile(fixed[2], 50)))
	for j, max50 := range []float64{0.8, 1.3} {
		p.res.add(figure{Name: "GET p50, " + eps[j].name, Unit: "ms", Ours: ms(percentile(get[j], 50)), Baseline: ms(crdP50), BaselineName: "CRD"}, max50, 0)
		p.res.add(figure{Name: "GET p99, " + eps[j].name, Unit: "ms", Ours: ms(percentile(get[j], 99)), Baseline: ms(crdP99), BaselineName: "CRD"}, 0, 0)
	}
	return nil
}

// measureList: LIST of all n, as JSON.
func (p *apiPhase) measureList(ctx context.Context) error {
	const lists = 40
	eps := p.eps
	lat := make([][]time.Duration, len(eps))
	var sizes [3]int
	prof := p.probe.startCPUProfile("api-list", 10)
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
		p.res.add(figure{Name: fmt.Sprintf("LIST %d p50, %s", p.n, eps[j].name), Unit: "ms", Ours: ms(percentile(lat[j], 50)),
			Baseline: ms(percentile(lat[2], 50)), BaselineName: "CRD"}, max, 0)
	}
	p.res.note("LIST response sizes: ours %d bytes, CRD %d bytes (same objects)", sizes[0], sizes[2])
	return nil
}

// measureWatch: time from sending a change to a watcher seeing it, the three
// endpoints in turn.
func (p *apiPhase) measureWatch(ctx context.Context) error {
	const changes = 100
	wl, err := watchLatency(ctx, p.eps, p.n, changes)
	if err != nil {
		return err
	}
	for j := range 2 {
		p.res.add(figure{Name: "watch p50, " + p.eps[j].name, Unit: "ms", Ours: ms(percentile(wl[j], 50)), Baseline: ms(percentile(wl[2], 50)), BaselineName: "CRD"}, 0, 0)
	}
	return nil
}

func targetName(i int) string { return fmt.Sprintf("t-%04d", i) }

// waitAllReady polls (LIST straight to our server) until n targets are Ready.
func (p *apiPhase) waitAllReady(ctx context.Context, n int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	last := ""
	for {
		l, err := p.cbDirect.ConfigbutlerV1alpha1().GitTargets(apiNamespace).List(ctx, metav1.ListOptions{})
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

// cleanup removes the targets, the CRD and the provider of the API phase.
func (p *apiPhase) cleanup(ctx context.Context) error {
	crdRes := schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	_ = p.dyn.Resource(crdRes).Delete(ctx, "gittargets."+crdGroup, metav1.DeleteOptions{})
	if err := p.cbDirect.ConfigbutlerV1alpha1().GitTargets(apiNamespace).DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{}); err != nil {
		return err
	}
	return p.cbDirect.ConfigbutlerV1alpha1().GitProviders(apiNamespace).Delete(ctx, "bench-api", metav1.DeleteOptions{})
}
