// Package monitoring tests the alerts and the dashboard the chart ships
// (charts/gitops-reverser/files) with the real promtool (hack/tools).
package monitoring

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

var (
	root, _   = filepath.Abs("../..")
	promtool  = filepath.Join(root, "bin", "promtool")
	rulesFile = filepath.Join(root, "charts", "gitops-reverser", "files", "prometheus-rules.yaml")
	dashboard = filepath.Join(root, "charts", "gitops-reverser", "files", "dashboard.json")
)

func run(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command(promtool, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestAlertRules lints the rule file (every lint fatal) and runs its unit
// tests: each alert fires on series showing its failure and not on healthy
// ones (alerts_test.yaml).
func TestAlertRules(t *testing.T) {
	run(t, "check", "rules", "--lint=all", "--lint-fatal", rulesFile)
	out := run(t, "test", "rules", "alerts_test.yaml")
	if !strings.Contains(out, "SUCCESS") {
		t.Fatalf("promtool test rules:\n%s", out)
	}
}

// TestEveryAlertIsTested: an alert without a case that makes it fire is an
// alert nobody knows works.
func TestEveryAlertIsTested(t *testing.T) {
	var rules struct {
		Groups []struct {
			Rules []struct {
				Alert       string            `json:"alert"`
				Annotations map[string]string `json:"annotations"`
			} `json:"rules"`
		} `json:"groups"`
	}
	readYAML(t, rulesFile, &rules)
	var cases struct {
		Tests []struct {
			AlertRuleTest []struct {
				Alertname string        `json:"alertname"`
				ExpAlerts []interface{} `json:"exp_alerts"`
			} `json:"alert_rule_test"`
		} `json:"tests"`
	}
	readYAML(t, "alerts_test.yaml", &cases)
	fires, quiet := map[string]bool{}, map[string]bool{}
	for _, tc := range cases.Tests {
		for _, a := range tc.AlertRuleTest {
			if len(a.ExpAlerts) > 0 {
				fires[a.Alertname] = true
			} else {
				quiet[a.Alertname] = true
			}
		}
	}
	n := 0
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			n++
			if !fires[r.Alert] || !quiet[r.Alert] {
				t.Errorf("alert %s: a case where it fires %v, one where it stays quiet %v", r.Alert, fires[r.Alert], quiet[r.Alert])
			}
			if r.Annotations["runbook"] == "" || r.Annotations["summary"] == "" {
				t.Errorf("alert %s has no summary or runbook", r.Alert)
			}
		}
	}
	if n == 0 {
		t.Fatal("no alerts")
	}
}

// TestDashboardQueriesParse checks every query of the dashboard with
// promtool, as recording rules (Grafana's $__rate_interval as 5m).
func TestDashboardQueriesParse(t *testing.T) {
	exprs := DashboardQueries(t)
	if len(exprs) < 10 {
		t.Fatalf("%d queries in the dashboard", len(exprs))
	}
	var b strings.Builder
	b.WriteString("groups:\n- name: dashboard\n  rules:\n")
	for i, e := range exprs {
		fmt.Fprintf(&b, "  - record: dashboard:query%d\n    expr: %q\n", i, strings.ReplaceAll(e, "$__rate_interval", "5m"))
	}
	f := filepath.Join(t.TempDir(), "dashboard-rules.yaml")
	if err := os.WriteFile(f, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	run(t, "check", "rules", f)
}

// DashboardQueries are the PromQL queries of the dashboard's panels.
func DashboardQueries(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(dashboard)
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, p := range d.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, q := range p.Targets {
			out = append(out, q.Expr)
		}
	}
	return out
}

func readYAML(t *testing.T, path string, into interface{}) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, into); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}
