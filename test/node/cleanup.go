package node

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"
)

// Stop stops every process, newest first, then removes what the node left on
// the machine: containers and their network namespaces, mounts under Dir, the
// bridge, and the iptables chains of kube-proxy, kubelet and the CNI plugins.
// The machine is as before, except for loaded kernel modules and sysctls.
func (n *Node) Stop() {
	byName := map[string]int{}
	for i, p := range n.procs {
		byName[p.Name] = i
	}
	stop := func(name string) {
		if i, ok := byName[name]; ok {
			n.procs[i].Stop(10 * time.Second)
		}
	}
	// The kubelet first, so it does not restart what we remove.
	stop("kubelet")
	stop("kube-proxy")
	if _, ok := byName["containerd"]; ok {
		n.removeContainers()
	}
	for i := len(n.procs) - 1; i >= 0; i-- {
		n.procs[i].Stop(10 * time.Second)
	}
	n.unmountUnder(n.opts.Dir)
	if _, err := os.Stat("/sys/class/net/" + Bridge); err == nil {
		_ = exec.Command("ip", "link", "delete", Bridge).Run()
	}
	if _, err := os.Stat(n.bin("kube-proxy")); err == nil && n.opts.Dir != "" {
		_ = exec.Command(n.bin("kube-proxy"), "--cleanup").Run()
	}
	removeChains()
	removeCgroups()
}

// removeContainers kills every task in the kubelet's containerd namespace and
// deletes the containers; their network namespaces (CNI's) go with them.
func (n *Node) removeContainers() {
	out, err := n.ctr("tasks", "ls", "-q")
	if err == nil {
		for _, id := range strings.Fields(out) {
			_, _ = n.ctr("tasks", "kill", "-s", "SIGKILL", id)
		}
		deadline := time.Now().Add(10 * time.Second)
		for _, id := range strings.Fields(out) {
			for time.Now().Before(deadline) {
				if _, err := n.ctr("tasks", "delete", "-f", id); err == nil {
					break
				}
				time.Sleep(200 * time.Millisecond)
			}
		}
	}
	if out, err := n.ctr("containers", "ls", "-q"); err == nil {
		for _, id := range strings.Fields(out) {
			_, _ = n.ctr("containers", "delete", id)
		}
	}
	// The sandboxes' network namespaces, bind-mounted by containerd's CRI.
	nss, _ := filepath.Glob("/var/run/netns/cni-*")
	for _, ns := range nss {
		_ = syscall.Unmount(ns, syscall.MNT_DETACH)
		_ = os.Remove(ns)
	}
}

// unmountUnder detaches every mount point below dir, deepest first.
func (n *Node) unmountUnder(dir string) {
	if dir == "" || dir == "/" {
		return
	}
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return
	}
	defer f.Close()
	var points []string
	s := bufio.NewScanner(f)
	for s.Scan() {
		fields := strings.Fields(s.Text())
		if len(fields) > 4 && strings.HasPrefix(fields[4], dir+"/") {
			points = append(points, fields[4])
		}
	}
	sort.Sort(sort.Reverse(sort.StringSlice(points)))
	for _, p := range points {
		_ = syscall.Unmount(p, syscall.MNT_DETACH)
	}
}

// removeChains deletes the KUBE-* and CNI-* chains (and the jumps to them) the
// node's kubelet, kube-proxy and CNI plugins added to every table.
func removeChains() {
	ours := func(chain string) bool { return strings.HasPrefix(chain, "KUBE-") || strings.HasPrefix(chain, "CNI-") }
	for _, table := range []string{"nat", "filter", "mangle"} {
		out, err := exec.Command("iptables", "-t", table, "-S").Output()
		if err != nil {
			continue
		}
		var chains, builtins []string
		for _, line := range strings.Split(string(out), "\n") {
			f := strings.Fields(line)
			switch {
			case len(f) >= 2 && f[0] == "-N" && ours(f[1]):
				chains = append(chains, f[1])
			case len(f) >= 2 && f[0] == "-P":
				builtins = append(builtins, f[1])
			}
		}
		// Jumps from the built-in chains, by rule number, last first (rule
		// specs carry quoted comments; numbers need no parsing of those).
		for _, b := range builtins {
			list, err := exec.Command("iptables", "-t", table, "-L", b, "-n", "--line-numbers").Output()
			if err != nil {
				continue
			}
			var nums []string
			for _, line := range strings.Split(string(list), "\n") {
				if f := strings.Fields(line); len(f) >= 2 && ours(f[1]) {
					nums = append(nums, f[0])
				}
			}
			for i := len(nums) - 1; i >= 0; i-- {
				_ = exec.Command("iptables", "-t", table, "-D", b, nums[i]).Run()
			}
		}
		for _, c := range chains {
			_ = exec.Command("iptables", "-t", table, "-F", c).Run()
		}
		for _, c := range chains {
			_ = exec.Command("iptables", "-t", table, "-X", c).Run()
		}
	}
}

// removeCgroups removes the kubelet's (now empty) cgroup hierarchies.
func removeCgroups() {
	roots, _ := filepath.Glob("/sys/fs/cgroup/*/kubepods*")
	for _, r := range roots {
		var dirs []string
		_ = filepath.WalkDir(r, func(p string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
		for i := len(dirs) - 1; i >= 0; i-- {
			_ = os.Remove(dirs[i])
		}
	}
}
