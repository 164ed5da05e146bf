package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"k8s.io/client-go/tools/clientcmd"
)

func TestAPIServiceDiscoveryAndExplain(t *testing.T) {
	out := kubectl(t, "get", "apiservice", "v1alpha1.configbutler.ai", "-o", `jsonpath={.status.conditions[?(@.type=="Available")].status}`)
	if out != "True" {
		t.Fatalf("APIService Available=%q", out)
	}
	raw := kubectl(t, "get", "--raw", "/apis/configbutler.ai/v1alpha1")
	var list struct {
		Resources []struct {
			Name  string   `json:"name"`
			Kind  string   `json:"kind"`
			Verbs []string `json:"verbs"`
		} `json:"resources"`
	}
	if err := json.Unmarshal([]byte(raw), &list); err != nil {
		t.Fatal(err)
	}
	verbs := map[string][]string{}
	for _, r := range list.Resources {
		slices.Sort(r.Verbs)
		verbs[r.Name] = r.Verbs
	}
	full := []string{"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"}
	for name, want := range map[string][]string{
		"gittargets": full, "gitproviders": full, "watchrules": full, "clusterwatchrules": full,
		"gittargets/status": {"get"}, "gittargets/gates": {"get"}, "gittargets/snapshot": {"get"},
	} {
		if !slices.Equal(verbs[name], want) {
			t.Errorf("%s verbs %v through kube-apiserver, want %v", name, verbs[name], want)
		}
	}
	// The aggregator fetches our OpenAPI v3 spec on its own schedule.
	eventually(t, 90*time.Second, "kubectl explain gittarget.spec.path", func() error {
		out, err := st.Kubectl("explain", "gittarget.spec.path")
		if err != nil || !strings.Contains(out, "relative to") || !strings.Contains(out, "FIELD: path <string>") {
			return fmt.Errorf("%v: %s", err, out)
		}
		return nil
	})
}

func TestTablesAndWaitThroughAggregator(t *testing.T) {
	ns := newNamespace(t, "tables")
	apply(t, fmt.Sprintf(`apiVersion: configbutler.ai/v1alpha1
kind: GitTarget
metadata: {name: orphan, namespace: %s}
spec:
  providerRef: {name: missing-provider}
  branch: main
  path: clusters/x
`, ns))
	out := kubectl(t, "wait", "--for=condition=Validated=false", "gittarget/orphan", "-n", ns, "--timeout=60s")
	if !strings.Contains(out, "condition met") {
		t.Fatalf("kubectl wait: %s", out)
	}
	ready := kubectl(t, "get", "gittarget", "orphan", "-n", ns, "-o", `jsonpath={.status.conditions[?(@.type=="Ready")].status}/{.status.conditions[?(@.type=="Ready")].reason}`)
	if ready != "False/ValidationFailed" {
		t.Errorf("Ready = %s, want False/ValidationFailed", ready)
	}

	wide := kubectl(t, "get", "gittargets", "-A", "-o", "wide")
	lines := strings.Split(strings.TrimSpace(wide), "\n")
	header := strings.Join(strings.Fields(lines[0]), " ")
	if header != "NAMESPACE NAME PROVIDER BRANCH PATH READY REASON LAST COMMIT AGE BLOCKING GATE MESSAGE AUTHORIZED BY" {
		t.Errorf("-o wide header: %s", header)
	}
	var row string
	for _, l := range lines {
		if strings.HasPrefix(l, ns+" ") {
			row = l
		}
	}
	for _, want := range []string{"orphan", "missing-provider", "main", "clusters/x", "False", "ValidationFailed", "Validated", "Referenced GitProvider '" + ns + "/missing-provider' not found", "admin"} {
		if !strings.Contains(row, want) {
			t.Errorf("row %q lacks %q", row, want)
		}
	}

	gates := kubectl(t, "get", "gittarget", "orphan", "-n", ns, "--subresource=gates")
	gl := strings.Split(strings.TrimSpace(gates), "\n")
	if len(gl) != 7 || !strings.HasPrefix(gl[0], "GATE") || !strings.HasPrefix(gl[1], "Validated") || !strings.HasPrefix(gl[6], "Ready") {
		t.Errorf("gates table:\n%s", gates)
	}
	if !strings.Contains(gl[1], "ProviderNotFound") || !strings.Contains(gl[2], "Blocked by Validated=False") {
		t.Errorf("gates rows:\n%s", gates)
	}
	snap := kubectl(t, "get", "gittarget", "orphan", "-n", ns, "--subresource=snapshot")
	if !strings.Contains(snap, "CREATED") || !strings.Contains(snap, "NotStarted") {
		t.Errorf("snapshot table:\n%s", snap)
	}
}

func TestRBACAndReadOnlySubresources(t *testing.T) {
	ns := newNamespace(t, "rbac")
	apply(t, fmt.Sprintf(`apiVersion: configbutler.ai/v1alpha1
kind: GitTarget
metadata: {name: t, namespace: %[1]s}
spec: {providerRef: {name: p}, branch: main, path: a}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: reader-view, namespace: %[1]s}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "gitops-reverser:view"}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: reader}]
`, ns))
	// (Aggregation into the built-in view role needs kube-controller-manager,
	// which the stack does not run; the role is bound directly.)
	eventually(t, 30*time.Second, "reader can get gittargets", func() error {
		out, err := st.KubectlAs(st.ReaderKubeconfig, "get", "gittarget", "t", "-n", ns)
		if err != nil {
			return fmt.Errorf("%v: %s", err, out)
		}
		return nil
	})
	if out, err := st.KubectlAs(st.ReaderKubeconfig, "get", "gittarget", "t", "-n", ns, "--subresource=gates"); err != nil {
		t.Errorf("reader get gates: %v\n%s", err, out)
	}
	out, err := st.KubectlStdin(st.ReaderKubeconfig, []byte(fmt.Sprintf(`apiVersion: configbutler.ai/v1alpha1
kind: GitTarget
metadata: {name: nope, namespace: %s}
spec: {providerRef: {name: p}, branch: main}
`, ns)), "create", "-f", "-")
	if err == nil || !strings.Contains(out, "Forbidden") {
		t.Errorf("reader create: err=%v\n%s", err, out)
	}
	for _, sub := range []string{"status", "gates", "snapshot"} {
		out, err := st.Kubectl("patch", "gittarget", "t", "-n", ns, "--subresource="+sub, "--type=merge", "-p", `{"status":{"lastCommit":"forged"}}`)
		if err == nil || !strings.Contains(out, "MethodNotAllowed") {
			t.Errorf("admin patch %s: err=%v\n%s", sub, err, out)
		}
		obj := kubectl(t, "get", "gittarget", "t", "-n", ns, "-o", "json")
		out, err = st.KubectlStdin(st.AdminKubeconfig, []byte(obj), "replace", "--subresource="+sub, "-f", "-")
		if err == nil || !strings.Contains(out, "MethodNotAllowed") {
			t.Errorf("admin replace (PUT) %s: err=%v\n%s", sub, err, out)
		}
	}
	if got := kubectl(t, "get", "gittarget", "t", "-n", ns, "-o", "jsonpath={.status.lastCommit}"); got != "" {
		t.Errorf("status was written by a client: lastCommit=%q", got)
	}
}

func TestServerSideApplyThroughAggregator(t *testing.T) {
	ns := newNamespace(t, "ssa")
	manifest := fmt.Sprintf(`apiVersion: configbutler.ai/v1alpha1
kind: GitProvider
metadata: {name: p, namespace: %s}
spec: {url: "git@github.com:org/repo.git", allowedBranches: ["main"]}
`, ns)
	run := func() string {
		out, err := st.KubectlStdin(st.AdminKubeconfig, []byte(manifest), "apply", "--server-side", "--field-manager=e2e", "-f", "-")
		if err != nil {
			t.Fatalf("apply: %v\n%s", err, out)
		}
		return kubectl(t, "get", "gitprovider", "p", "-n", ns, "-o", "jsonpath={.metadata.resourceVersion}")
	}
	rv1, rv2 := run(), run()
	if rv1 != rv2 {
		t.Errorf("second server-side apply changed the object: rv %s -> %s", rv1, rv2)
	}
	mf := kubectl(t, "get", "gitprovider", "p", "-n", ns, "--show-managed-fields", "-o", "jsonpath={.metadata.managedFields[*].manager}")
	if !strings.Contains(mf, "e2e") {
		t.Errorf("managedFields managers: %q", mf)
	}
}

func TestDeployManifestsPassServerDryRun(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(root, "artifacts", "deploy", "*.yaml"))
	if len(files) < 7 {
		t.Fatalf("found %d deploy manifests", len(files))
	}
	for _, f := range files {
		out, err := st.Kubectl("apply", "--dry-run=server", "-f", f)
		if err != nil {
			t.Errorf("%s: %v\n%s", filepath.Base(f), err, out)
		}
	}
	// The serving Secret and the APIService with its caBundle (hack/deploy-certs).
	cmd := exec.Command("go", "run", "./hack/deploy-certs", "-dir", t.TempDir())
	cmd.Dir = root
	certs, err := cmd.Output()
	if err != nil {
		t.Fatalf("hack/deploy-certs: %v", err)
	}
	if out, err := st.KubectlStdin(st.AdminKubeconfig, certs, "apply", "--dry-run=server", "-f", "-"); err != nil ||
		!strings.Contains(out, "secret/gitops-reverser-serving created (server dry run)") {
		t.Errorf("deploy-certs output: %v\n%s", err, out)
	}
}

// TestChartPassesServerDryRun: the Helm chart renders, with each kind of
// install its values offer, to objects kube-apiserver accepts; values it cannot
// honour fail the render with a message naming them. (The ServiceMonitor is
// rendered by the last set but not applied: this cluster has no Prometheus
// operator CRDs.)
func TestChartPassesServerDryRun(t *testing.T) {
	helm := filepath.Join(root, "bin", "helm")
	chart := filepath.Join(root, "charts", "gitops-reverser")
	render := func(args ...string) (string, error) {
		cmd := exec.Command(helm, append([]string{"template", "gitops-reverser", chart, "-n", "gitops-reverser"}, args...)...)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := exec.Command(helm, "lint", "--strict", chart).CombinedOutput(); err != nil {
		t.Fatalf("helm lint --strict: %v\n%s", err, out)
	}
	for name, set := range map[string][]string{
		"defaults":         nil,
		"required":         {"--set", "antiAffinity=required", "--set", "replicas=3"},
		"external etcd":    {"--set", "etcd.bundled.enabled=false", "--set", "etcd.external.endpoints={https://etcd-0.example:2379}", "--set", "etcd.external.tls.secretName=etcd-client"},
		"no dns, no disks": {"--set", "etcd.bundled.resolve=env", "--set", "etcd.bundled.clientService.clusterIP=10.96.0.53", "--set", "etcd.bundled.persistence.enabled=false", "--set", "antiAffinity=none", "--set", "goMemLimit=400MiB", "--set", "goGC=50"},
		"servicemonitor":   {"--set", "serviceMonitor.enabled=true", "--set", "rbac.userRoles=false"},
		"three members":    {"--set", "etcd.bundled.replicas=3"},
		"three members, no dns": {"--set", "etcd.bundled.replicas=3", "--set", "etcd.bundled.resolve=hosts",
			"--set", "etcd.bundled.members.clusterIPs={10.96.0.60,10.96.0.61,10.96.0.62}"},
	} {
		out, err := render(set...)
		if err != nil {
			t.Errorf("%s: helm template: %v\n%s", name, err, out)
			continue
		}
		var docs []string
		for _, d := range strings.Split(out, "\n---\n") {
			if strings.Contains(d, "kind: ServiceMonitor") {
				continue
			}
			docs = append(docs, d)
		}
		if res, err := st.KubectlStdin(st.AdminKubeconfig, []byte(strings.Join(docs, "\n---\n")), "apply", "--dry-run=server", "-f", "-"); err != nil {
			t.Errorf("%s: server dry-run: %v\n%s", name, err, res)
		}
		if name == "servicemonitor" && !strings.Contains(out, "kind: ServiceMonitor") {
			t.Errorf("serviceMonitor.enabled=true rendered no ServiceMonitor")
		}
		if strings.HasPrefix(name, "three members") {
			checkThreeMembers(t, out, name == "three members, no dns")
		}
		if name == "no dns, no disks" && (!strings.Contains(out, "$(GITOPS_REVERSER_ETCD_CLIENT_SERVICE_HOST)") || strings.Contains(out, "volumeClaimTemplates")) {
			t.Errorf("resolve=env or persistence=false not rendered:\n%s", out)
		}
		// GOGC is set only when asked for: the server's default otherwise.
		if gogc := regexp.MustCompile(`- name: GOGC\s+value: "50"`).MatchString(out); gogc != (name == "no dns, no disks") {
			t.Errorf("%s: GOGC rendered %v, want it only with goGC=50", name, gogc)
		}
		// GOMEMLIMIT likewise; the container's limit always goes to the
		// server, which takes nine tenths of it when GOMEMLIMIT is unset.
		if gomem := strings.Contains(out, "- name: GOMEMLIMIT"); gomem != (name == "no dns, no disks") {
			t.Errorf("%s: GOMEMLIMIT rendered %v, want it only with goMemLimit=400MiB", name, gomem)
		}
		if !regexp.MustCompile(`- name: GITOPS_REVERSER_MEMORY_LIMIT\s+valueFrom:\s+resourceFieldRef:\s+containerName: apiserver\s+resource: limits.memory`).MatchString(out) {
			t.Errorf("%s: the container's memory limit is not passed to the server", name)
		}
	}
	for set, want := range map[string]string{
		"antiAffinity=sometimes":                                         "antiAffinity must be preferred, required or none",
		"etcd.external.endpoints={https://e:2379}":                       "etcd.bundled.enabled=false",
		"etcd.bundled.resolve=mdns":                                      "etcd.bundled.resolve must be dns, env or hosts",
		"etcd.bundled.replicas=2":                                        "etcd.bundled.replicas must be 1 or 3",
		"etcd.bundled.replicas=3,etcd.bundled.persistence.enabled=false": "needs etcd.bundled.persistence.enabled=true",
		"etcd.bundled.replicas=3,etcd.bundled.resolve=env,etcd.bundled.clientService.clusterIP=10.96.0.53": "cannot use etcd.bundled.resolve=env",
		"etcd.bundled.replicas=3,etcd.bundled.resolve=hosts,etcd.bundled.members.clusterIPs={10.96.0.60}":  "1 given for 3 members",
		"etcd.bundled.members.clusterIPs={10.96.0.60}":                                                     "only used with etcd.bundled.resolve=hosts",
		"replicas=0": "replicas must be at least 1",
	} {
		if out, err := render("--set", set); err == nil || !strings.Contains(out, want) {
			t.Errorf("--set %s: err %v, want an error saying %q:\n%.300s", set, err, want, out)
		}
	}
}

// TestChartRefusesAnotherEtcdsClaims: a release installed again finds the
// claims its etcd members left (a StatefulSet's claims outlive it); a member
// count other than the one they were made for is refused before anything
// is applied, since member 0 would start on the old cluster's data. helm
// reads the claims with lookup, so this is a server dry run of helm itself.
func TestChartRefusesAnotherEtcdsClaims(t *testing.T) {
	helm := filepath.Join(root, "bin", "helm")
	chart := filepath.Join(root, "charts", "gitops-reverser")
	ns := newNamespace(t, "etcd-claims")
	claim := func(i int) string {
		return fmt.Sprintf("apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {name: data-gitops-reverser-etcd-%d, namespace: %s}\nspec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Gi}}}\n", i, ns)
	}
	install := func(replicas string) (string, error) {
		out, err := exec.Command(helm, "install", "gitops-reverser", chart, "-n", ns, "--dry-run=server", "--kubeconfig", st.AdminKubeconfig,
			"--set", "etcd.bundled.replicas="+replicas).CombinedOutput()
		return string(out), err
	}
	// One member's claim: three members are refused, one is fine.
	apply(t, claim(0))
	if out, err := install("3"); err == nil || !strings.Contains(out, "hold the data of an etcd with one member") {
		t.Errorf("three members over a one-member etcd's claim: err %v\n%.400s", err, out)
	}
	// (This cluster holds the server's cluster-wide RBAC from outside helm,
	// so the dry run fails later for that; the claims are not what stops it.)
	if out, _ := install("1"); strings.Contains(out, "hold the data of an etcd") {
		t.Errorf("one member over its own claim was refused:\n%.400s", out)
	}
	// Three members' claims: one member is refused.
	apply(t, claim(1)+"---\n"+claim(2))
	if out, err := install("1"); err == nil || !strings.Contains(out, "hold the data of an etcd with three members") {
		t.Errorf("one member over a three-member etcd's claims: err %v\n%.400s", err, out)
	}
}

// checkThreeMembers: a three-member etcd renders as one: three replicas
// started together, every member in --initial-cluster and in the server's
// --etcd-servers, peers held to the chart's CA and etcd's own certificate, a
// PodDisruptionBudget of one, and with resolve=hosts each member's fixed
// address in every pod's /etc/hosts.
func checkThreeMembers(t *testing.T, out string, hosts bool) {
	t.Helper()
	member := func(i int) string {
		return fmt.Sprintf("gitops-reverser-etcd-%d.gitops-reverser-etcd.gitops-reverser.svc", i)
	}
	want := []string{
		"replicas: 3", "podManagementPolicy: Parallel", "publishNotReadyAddresses: true",
		"--initial-cluster=gitops-reverser-etcd-0=https://" + member(0) + ":2380,gitops-reverser-etcd-1=https://" + member(1) + ":2380,gitops-reverser-etcd-2=https://" + member(2) + ":2380",
		"--etcd-servers=https://" + member(0) + ":2379,https://" + member(1) + ":2379,https://" + member(2) + ":2379",
		"--peer-client-cert-auth", "--peer-cert-allowed-cn=gitops-reverser-etcd", "--peer-skip-client-san-verification",
		"kind: PodDisruptionBudget\nmetadata:\n  name: gitops-reverser-etcd",
	}
	if hosts {
		for i, ip := range []string{"10.96.0.60", "10.96.0.61", "10.96.0.62"} {
			want = append(want, fmt.Sprintf("clusterIP: %s", ip), fmt.Sprintf("statefulset.kubernetes.io/pod-name: gitops-reverser-etcd-%d", i))
		}
	}
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("three members: the rendering lacks %q", w)
		}
	}
	if hosts {
		// Both the members and the server's pods name every member.
		if got := strings.Count(out, `- ip: "10.96.0.61"`+"\n"+`        hostnames: ["`+member(1)+`"]`); got != 2 {
			t.Errorf("resolve=hosts: member 1's address is in %d pod templates' hostAliases, want 2 (etcd and the server)", got)
		}
	}
}

// TestPriorityAndFairnessIsOn: requests straight to our server are classified by
// priority and fairness (the headers name the flow schema and priority level).
func TestPriorityAndFairnessIsOn(t *testing.T) {
	cfg, err := clientcmd.LoadFromFile(st.ServerKubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	var token string
	for _, a := range cfg.AuthInfos {
		token = a.Token
	}
	ca, err := os.ReadFile(filepath.Join(st.Dir(), "pki", "server-ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, st.ServerURL+"/apis/configbutler.ai/v1alpha1/gittargets", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("X-Kubernetes-PF-FlowSchema-UID") == "" || resp.Header.Get("X-Kubernetes-PF-PriorityLevel-UID") == "" {
		t.Errorf("status %d, PF headers %q %q", resp.StatusCode, resp.Header.Get("X-Kubernetes-PF-FlowSchema-UID"), resp.Header.Get("X-Kubernetes-PF-PriorityLevel-UID"))
	}
}

// TestStorageAndOpenAPIv2: objects live in etcd under the server's own prefix
// (kube-apiserver's keys are elsewhere in the same etcd), as JSON; our OpenAPI
// v2 spec is served with the GitTarget model, straight and aggregated.
func TestStorageAndOpenAPIv2(t *testing.T) {
	ns := newNamespace(t, "stored")
	apply(t, fmt.Sprintf(`apiVersion: configbutler.ai/v1alpha1
kind: GitTarget
metadata: {name: kept, namespace: %s}
spec: {providerRef: {name: none}, branch: main, path: p}
`, ns))
	cli, ctx := etcdClient(t)
	// <--etcd-prefix>/<group>/<resource>/<namespace>/<name>, as sample-apiserver lays it out.
	key := "/registry/configbutler.ai/configbutler.ai/gittargets/" + ns + "/kept"
	resp, err := cli.Get(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Kvs) != 1 || !strings.Contains(string(resp.Kvs[0].Value), `"kind":"GitTarget"`) {
		all, _ := cli.Get(ctx, "/", clientv3.WithPrefix(), clientv3.WithKeysOnly())
		var keys []string
		for _, kv := range all.Kvs {
			if strings.Contains(string(kv.Key), ns) {
				keys = append(keys, string(kv.Key))
			}
		}
		t.Fatalf("%s in etcd: %d keys; keys naming the namespace: %v", key, len(resp.Kvs), keys)
	}
	ours, err := cli.Get(ctx, "/registry/configbutler.ai/", clientv3.WithPrefix(), clientv3.WithKeysOnly())
	if err != nil {
		t.Fatal(err)
	}
	for _, kv := range ours.Kvs {
		k := strings.TrimPrefix(string(kv.Key), "/registry/configbutler.ai/configbutler.ai/")
		if r, _, _ := strings.Cut(k, "/"); k == string(kv.Key) || !slices.Contains([]string{"gitproviders", "gittargets", "watchrules", "clusterwatchrules"}, r) {
			t.Errorf("unexpected key under our prefix: %s", kv.Key)
		}
	}
	if kube, err := cli.Get(ctx, "/registry/namespaces/"+ns, clientv3.WithKeysOnly()); err != nil || len(kube.Kvs) != 1 {
		t.Errorf("kube-apiserver's namespace key: %v %v", kube, err)
	}

	for _, via := range []string{st.DirectKubeconfig, st.AdminKubeconfig} {
		eventually(t, 90*time.Second, "OpenAPI v2 with GitTarget via "+filepath.Base(via), func() error {
			out, err := st.KubectlAs(via, "get", "--raw", "/openapi/v2")
			if err != nil || !strings.Contains(out, `"ai.configbutler.v1alpha1.GitTarget"`) {
				return fmt.Errorf("%v (%d bytes)", err, len(out))
			}
			return nil
		})
	}
}
