package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler/v1alpha1"
	"github.com/configbutler/gitops-reverser/pkg/sops"
)

// condView is what the seed's examples fix about a condition.
type condView struct{ Type, Status, Reason, Message string }

func seedConditions(t *testing.T, file string) []condView {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(root, "pkg", "conditions", "testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	var seed struct {
		Status v1alpha1.GitTargetStatus `json:"status"`
	}
	if err := yaml.UnmarshalStrict(raw, &seed); err != nil {
		t.Fatal(err)
	}
	return views(seed.Status.Conditions)
}

func views(conds []metav1.Condition) []condView {
	out := make([]condView, 0, len(conds))
	for _, c := range conds {
		out = append(out, condView{c.Type, string(c.Status), c.Reason, c.Message})
	}
	return out
}

// targetConditions reads a target's conditions through kubectl (the aggregator).
func targetConditions(t *testing.T, ns, name string) (*v1alpha1.GitTarget, []condView) {
	t.Helper()
	tg, cs, err := targetConditionsE(ns, name)
	if err != nil {
		t.Fatal(err)
	}
	return tg, cs
}

// targetConditionsE is targetConditions for polling: errors are returned.
func targetConditionsE(ns, name string) (*v1alpha1.GitTarget, []condView, error) {
	out, err := st.Kubectl("get", "gittarget", name, "-n", ns, "-o", "json")
	if err != nil {
		return nil, nil, fmt.Errorf("%v: %s", err, out)
	}
	var tg v1alpha1.GitTarget
	if err := json.Unmarshal([]byte(out), &tg); err != nil {
		return nil, nil, err
	}
	return &tg, views(tg.Status.Conditions), nil
}

func conditionIs(t *testing.T, ns, name, typ, status, reason string) func() error {
	return func() error {
		_, cs, err := targetConditionsE(ns, name)
		if err != nil {
			return err
		}
		for _, c := range cs {
			if c.Type == typ {
				if c.Status == status && (reason == "" || c.Reason == reason) {
					return nil
				}
				return fmt.Errorf("%s=%s/%s (%s)", c.Type, c.Status, c.Reason, c.Message)
			}
		}
		return fmt.Errorf("no %s condition yet", typ)
	}
}

// TestSeedExamplesOneAndTwo reproduces the seed's examples 1 (missing provider)
// and 2 (secret missing, generateWhenMissing=false) through kubectl, field for
// field (types, status, reasons, messages, order), and shows creating the
// provider flips Validated without a restart.
func TestSeedExamplesOneAndTwo(t *testing.T) {
	ns := "sut"
	kubectl(t, "create", "namespace", ns)
	apply(t, `apiVersion: configbutler.ai/v1alpha1
kind: GitTarget
metadata: {name: prod-target, namespace: sut}
spec:
  providerRef: {name: main-provider}
  branch: main
  path: clusters/prod
`)
	want1 := seedConditions(t, "seed-example-1-validation-blocked.yaml")
	eventually(t, 30*time.Second, "example 1", func() error {
		tg, got, err := targetConditionsE(ns, "prod-target")
		if err != nil {
			return err
		}
		if diff := cmp.Diff(want1, got); diff != "" {
			return fmt.Errorf("conditions differ from seed example 1 (-seed +got):\n%s", diff)
		}
		for _, c := range tg.Status.Conditions {
			if c.ObservedGeneration != tg.Generation {
				return fmt.Errorf("%s observedGeneration %d, generation %d", c.Type, c.ObservedGeneration, tg.Generation)
			}
		}
		if tg.Status.LastReconcileTime == nil || tg.Status.ObservedGeneration != tg.Generation {
			return fmt.Errorf("lastReconcileTime %v observedGeneration %d", tg.Status.LastReconcileTime, tg.Status.ObservedGeneration)
		}
		return nil
	})

	// An Event records the transition, in the source cluster.
	eventually(t, 30*time.Second, "gate transition event", func() error {
		out := kubectl(t, "get", "events", "-n", ns, "--field-selector", "involvedObject.name=prod-target,reason=GateTransition", "-o", "jsonpath={.items[*].message}")
		if !strings.Contains(out, "Validated: None -> False/ProviderNotFound") {
			return fmt.Errorf("events: %q", out)
		}
		return nil
	})

	// Creating the provider flips Validated: watch-driven, no restart.
	apply(t, `apiVersion: configbutler.ai/v1alpha1
kind: GitProvider
metadata: {name: main-provider, namespace: sut}
spec: {url: "https://git.example.com/sut/fleet.git", allowedBranches: ["main"]}
`)
	start := time.Now()
	eventually(t, 20*time.Second, "Validated flips after the provider appears", conditionIs(t, ns, "prod-target", "Validated", "True", "OK"))
	t.Logf("Validated flipped %s after the provider was created", time.Since(start).Round(10*time.Millisecond))

	kubectl(t, "delete", "gittarget", "prod-target", "-n", ns)
	apply(t, `apiVersion: configbutler.ai/v1alpha1
kind: GitTarget
metadata: {name: encrypted-target, namespace: sut}
spec:
  providerRef: {name: main-provider}
  branch: main
  path: clusters/prod
  encryption:
    provider: sops
    secretRef: {name: sops-age-key}
    generateWhenMissing: false
`)
	want2 := seedConditions(t, "seed-example-2-encryption-blocked.yaml")
	eventually(t, 30*time.Second, "example 2", func() error {
		_, got, err := targetConditionsE(ns, "encrypted-target")
		if err != nil {
			return err
		}
		if diff := cmp.Diff(want2, got); diff != "" {
			return fmt.Errorf("conditions differ from seed example 2 (-seed +got):\n%s", diff)
		}
		return nil
	})
	if _, err := kube.CoreV1().Secrets(ns).Get(context.Background(), "sops-age-key", metav1.GetOptions{}); err == nil {
		t.Error("a Secret was created although generateWhenMissing is false")
	}
}

// TestGenerateWhenMissing: a new age identity is stored in a new Secret,
// annotated with its recipient; the key decrypts what the recipient encrypts; an
// existing Secret is never overwritten; a bad key is InvalidConfig.
func TestGenerateWhenMissing(t *testing.T) {
	ns := newNamespace(t, "genkey")
	apply(t, fmt.Sprintf(`apiVersion: configbutler.ai/v1alpha1
kind: GitProvider
metadata: {name: p, namespace: %[1]s}
spec: {url: "https://git.example.com/genkey.git", allowedBranches: ["*"]}
---
apiVersion: configbutler.ai/v1alpha1
kind: GitTarget
metadata: {name: t, namespace: %[1]s}
spec:
  providerRef: {name: p}
  branch: main
  encryption: {provider: sops, secretRef: {name: age-key}, generateWhenMissing: true}
---
apiVersion: configbutler.ai/v1alpha1
kind: GitTarget
metadata: {name: bad, namespace: %[1]s}
spec:
  providerRef: {name: p}
  branch: other
  encryption: {provider: sops, secretRef: {name: garbage-key}, generateWhenMissing: true}
---
apiVersion: v1
kind: Secret
metadata: {name: garbage-key, namespace: %[1]s}
stringData: {identity.agekey: "AGE-SECRET-KEY-1NOTAKEY"}
`, ns))
	eventually(t, 30*time.Second, "EncryptionConfigured", conditionIs(t, ns, "t", "EncryptionConfigured", "True", "OK"))
	s, err := kube.CoreV1().Secrets(ns).Get(context.Background(), "age-key", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	recipient := s.Annotations["configbutler.ai/age-recipient"]
	if recipient == "" || !strings.Contains(s.Annotations["configbutler.ai/backup-warning"], "Back it up") {
		t.Fatalf("annotations %v", s.Annotations)
	}
	ids, recipients, err := sops.ParseIdentities(s.Data)
	if err != nil || len(recipients) != 1 || recipients[0] != recipient {
		t.Fatalf("identities: %v recipients %v annotation %s", err, recipients, recipient)
	}
	r, err := age.ParseX25519Recipient(recipient)
	if err != nil {
		t.Fatal(err)
	}
	var buf strings.Builder
	w, err := age.Encrypt(&buf, r)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprint(w, "round trip")
	w.Close()
	rd, err := age.Decrypt(strings.NewReader(buf.String()), ids...)
	if err != nil {
		t.Fatalf("the generated key does not decrypt what its recipient encrypts: %v", err)
	}
	plain, err := io.ReadAll(rd)
	if err != nil || string(plain) != "round trip" {
		t.Fatalf("decrypted %q, %v", plain, err)
	}
	tg, _ := targetConditions(t, ns, "t")
	if tg.Status.Encryption == nil || tg.Status.Encryption.RecipientsHash != sops.RecipientsHash(recipients) ||
		tg.Status.Encryption.SecretRefName != "age-key" || tg.Status.Encryption.LastValidatedTime == nil {
		t.Errorf("status.encryption %+v", tg.Status.Encryption)
	}
	// The private key appears nowhere in the target, its events or the server log.
	identity := ids[0].(*age.X25519Identity).String()
	for what, text := range map[string]string{
		"GitTarget":  kubectl(t, "get", "gittarget", "t", "-n", ns, "-o", "yaml"),
		"events":     kubectl(t, "get", "events", "-n", ns, "-o", "yaml"),
		"server log": st.Server.TailLog(1 << 30),
	} {
		if strings.Contains(text, identity) {
			t.Errorf("the age identity leaked into the %s", what)
		}
	}

	eventually(t, 30*time.Second, "InvalidConfig", conditionIs(t, ns, "bad", "EncryptionConfigured", "False", "InvalidConfig"))
	g, _ := kube.CoreV1().Secrets(ns).Get(context.Background(), "garbage-key", metav1.GetOptions{})
	if string(g.Data["identity.agekey"]) != "AGE-SECRET-KEY-1NOTAKEY" {
		t.Error("an existing Secret was overwritten")
	}
	if ev := kubectl(t, "get", "events", "-n", ns, "-o", "jsonpath={.items[*].message}"); strings.Contains(ev, "NOTAKEY") {
		t.Errorf("key material in events: %s", ev)
	}
}

// TestTargetConflict: two targets writing the same repository (URLs that differ
// only in form) and branch with nested paths: the one that claimed its place
// first (bootstrapped: it proved it can write there) wins, the newer is told
// which target it conflicts with (the same namespace's), and deleting the
// winner frees it.
func TestTargetConflict(t *testing.T) {
	ns := newNamespace(t, "conflict")
	url := newRepo(t, ns)
	apply(t, credentials(ns)+fmt.Sprintf(`---
apiVersion: configbutler.ai/v1alpha1
kind: GitProvider
metadata: {name: a, namespace: %[1]s}
spec: {url: %[2]q, secretRef: {name: git-credentials}, allowedBranches: ["main"]}
---
apiVersion: configbutler.ai/v1alpha1
kind: GitProvider
metadata: {name: b, namespace: %[1]s}
spec: {url: %[3]q, allowedBranches: ["main"]}
---
apiVersion: configbutler.ai/v1alpha1
kind: GitTarget
metadata: {name: older, namespace: %[1]s}
spec: {providerRef: {name: a}, branch: main, path: apps}
`, ns, url, strings.TrimSuffix(url, ".git")+"/"))
	eventually(t, 30*time.Second, "older bootstrapped", conditionIs(t, ns, "older", "Bootstrapped", "True", "BootstrapApplied"))
	apply(t, fmt.Sprintf(`apiVersion: configbutler.ai/v1alpha1
kind: GitTarget
metadata: {name: newer, namespace: %s}
spec: {providerRef: {name: b}, branch: main, path: apps/team}
`, ns))
	eventually(t, 30*time.Second, "newer conflicts", conditionIs(t, ns, "newer", "Validated", "False", "TargetConflict"))
	_, cs := targetConditions(t, ns, "newer")
	if !strings.Contains(cs[0].Message, "'"+ns+"/older'") {
		t.Errorf("conflict message does not name the winner: %s", cs[0].Message)
	}
	kubectl(t, "delete", "gittarget", "older", "-n", ns)
	eventually(t, 20*time.Second, "newer freed", conditionIs(t, ns, "newer", "Validated", "True", "OK"))
}

// TestStuckBootstrapDoesNotDelayOtherBranches: a remote that accepts connections
// and never answers holds one branch worker; a target on another repository is
// bootstrapped meanwhile.
func TestStuckBootstrapDoesNotDelayOtherBranches(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c) // hold it open, say nothing
		}
	}()
	t.Cleanup(func() {
		l.Close()
		for _, c := range conns {
			c.Close()
		}
	})
	ns := newNamespace(t, "stuck")
	good := newRepo(t, ns)
	apply(t, credentials(ns)+fmt.Sprintf(`---
apiVersion: configbutler.ai/v1alpha1
kind: GitProvider
metadata: {name: hanging, namespace: %[1]s}
spec: {url: "http://%[2]s/hang.git", allowedBranches: ["main"]}
---
apiVersion: configbutler.ai/v1alpha1
kind: GitTarget
metadata: {name: stuck, namespace: %[1]s}
spec: {providerRef: {name: hanging}, branch: main}
`, ns, l.Addr().String()))
	eventually(t, 30*time.Second, "stuck target is waiting on its worker", conditionIs(t, ns, "stuck", "Bootstrapped", "Unknown", "NotStarted"))
	apply(t, fmt.Sprintf(`apiVersion: configbutler.ai/v1alpha1
kind: GitProvider
metadata: {name: good, namespace: %[1]s}
spec: {url: %[2]q, secretRef: {name: git-credentials}, allowedBranches: ["main"]}
---
apiVersion: configbutler.ai/v1alpha1
kind: GitTarget
metadata: {name: free, namespace: %[1]s}
spec: {providerRef: {name: good}, branch: main, path: x}
`, ns, good))
	eventually(t, 30*time.Second, "target on another branch bootstrapped", conditionIs(t, ns, "free", "Bootstrapped", "True", "BootstrapApplied"))
	if err := conditionIs(t, ns, "stuck", "Bootstrapped", "Unknown", "NotStarted")(); err != nil {
		t.Errorf("stuck target: %v", err)
	}
	kubectl(t, "delete", "gittarget", "stuck", "-n", ns)
}

// TestProviderAndRuleReady: a GitProvider's Ready says whether its credentials
// Secret is there and usable and its remote answers; a WatchRule's whether its
// target exists and its rules select resource types of the cluster.
func TestProviderAndRuleReady(t *testing.T) {
	ns := newNamespace(t, "ready")
	url := newRepo(t, ns)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedURL := fmt.Sprintf("http://%s/nothing.git", l.Addr())
	l.Close() // nothing listens there any more
	apply(t, credentials(ns)+fmt.Sprintf(`---
apiVersion: v1
kind: Secret
metadata: {name: no-password, namespace: %[1]s}
stringData: {username: gitops}
---
apiVersion: configbutler.ai/v1alpha1
kind: GitProvider
metadata: {name: good, namespace: %[1]s}
spec: {url: %[2]q, secretRef: {name: git-credentials}, allowedBranches: ["*"]}
---
apiVersion: configbutler.ai/v1alpha1
kind: GitProvider
metadata: {name: no-secret, namespace: %[1]s}
spec: {url: %[2]q, secretRef: {name: absent}, allowedBranches: ["*"]}
---
apiVersion: configbutler.ai/v1alpha1
kind: GitProvider
metadata: {name: bad-secret, namespace: %[1]s}
spec: {url: %[2]q, secretRef: {name: no-password}, allowedBranches: ["*"]}
---
apiVersion: configbutler.ai/v1alpha1
kind: GitProvider
metadata: {name: unreachable, namespace: %[1]s}
spec: {url: %[3]q, secretRef: {name: git-credentials}, allowedBranches: ["*"]}
---
apiVersion: configbutler.ai/v1alpha1
kind: GitTarget
metadata: {name: t, namespace: %[1]s}
spec: {providerRef: {name: good}, branch: main, path: p}
---
apiVersion: configbutler.ai/v1alpha1
kind: WatchRule
metadata: {name: good, namespace: %[1]s}
spec: {targetRef: {name: t}, rules: [{apiGroups: [""], resources: ["configmaps"]}]}
---
apiVersion: configbutler.ai/v1alpha1
kind: WatchRule
metadata: {name: orphan, namespace: %[1]s}
spec: {targetRef: {name: missing}, rules: [{apiGroups: [""], resources: ["configmaps"]}]}
---
apiVersion: configbutler.ai/v1alpha1
kind: WatchRule
metadata: {name: nothing, namespace: %[1]s}
spec: {targetRef: {name: t}, rules: [{apiGroups: ["no.such.group"], resources: ["things"]}]}
`, ns, url, closedURL))
	ready := func(kind, name string) string {
		out, _ := st.Kubectl("get", kind, name, "-n", ns, "-o",
			`jsonpath={.status.conditions[?(@.type=="Ready")].status}/{.status.conditions[?(@.type=="Ready")].reason}: {.status.conditions[?(@.type=="Ready")].message}`)
		return out
	}
	for _, c := range []struct{ kind, name, want, msg string }{
		{"gitprovider", "good", "True/OK", "Remote reachable"},
		{"gitprovider", "no-secret", "False/SecretNotFound", "absent not found"},
		{"gitprovider", "bad-secret", "False/InvalidCredentials", "password"},
		{"gitprovider", "unreachable", "False/RemoteUnreachable", "did not answer"},
		{"watchrule", "good", "True/OK", "configmaps"},
		{"watchrule", "orphan", "False/TargetNotFound", "missing' not found"},
		{"watchrule", "nothing", "False/NoMatchingResources", "select no"},
	} {
		eventually(t, 40*time.Second, c.kind+" "+c.name+" Ready "+c.want, func() error {
			got := ready(c.kind, c.name)
			if !strings.HasPrefix(got, c.want+": ") || !strings.Contains(got, c.msg) {
				return fmt.Errorf("Ready is %q", got)
			}
			return nil
		})
	}
	if all := kubectl(t, "get", "gitproviders", "-n", ns, "-o", "yaml"); strings.Contains(all, st.GitPassword) {
		t.Error("the Git password appears in a GitProvider")
	}
}
