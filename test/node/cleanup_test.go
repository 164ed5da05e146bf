//go:build cluster

package node

import (
	"os/exec"
	"strings"
	"testing"
)

// TestRemoveChains: the chains a node leaves (jumps carrying quoted comments,
// as CNI writes them) are removed, and nobody else's rules are touched.
func TestRemoveChains(t *testing.T) {
	ipt := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("iptables", args...).CombinedOutput(); err != nil {
			t.Fatalf("iptables %v: %v %s", args, err, out)
		}
	}
	ipt("-t", "nat", "-N", "CNI-cleanuptest")
	ipt("-t", "nat", "-A", "POSTROUTING", "-s", "10.88.0.99/32", "-m", "comment", "--comment", `name: "x" id: "y"`, "-j", "CNI-cleanuptest")
	ipt("-t", "nat", "-N", "OTHER-cleanuptest")
	ipt("-t", "nat", "-A", "POSTROUTING", "-s", "10.88.0.98/32", "-j", "OTHER-cleanuptest")
	defer func() {
		exec.Command("iptables", "-t", "nat", "-D", "POSTROUTING", "-s", "10.88.0.98/32", "-j", "OTHER-cleanuptest").Run()
		exec.Command("iptables", "-t", "nat", "-X", "OTHER-cleanuptest").Run()
	}()
	removeChains()
	out, err := exec.Command("iptables", "-t", "nat", "-S").Output()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), "CNI-") {
		t.Errorf("CNI chains left:\n%s", out)
	}
	if !strings.Contains(string(out), "-j OTHER-cleanuptest") {
		t.Errorf("another chain's jump was removed:\n%s", out)
	}
}
