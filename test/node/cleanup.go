package node

import (
	"bufio"
	"os"
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
		n.containerd.removeContainers()
	}
	for i := len(n.procs) - 1; i >= 0; i-- {
		n.procs[i].Stop(10 * time.Second)
	}
	unmountUnder(n.opts.Dir)
	n.net.remove()
	removeCgroups()
}

// unmountUnder detaches every mount point below dir, deepest first.
func unmountUnder(dir string) {
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
