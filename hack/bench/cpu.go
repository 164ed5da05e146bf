package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/configbutler/gitops-reverser/test/stack"
)

// clockTick is the unit of /proc/<pid>/stat's CPU times (USER_HZ, 100 on
// Linux everywhere that matters here).
const clockTick = 10 * time.Millisecond

// cpuTimes reads a process's CPU time from /proc/<pid>/stat: its own (user
// and system) and that of its children it has waited for (the git server's
// `git http-backend` and the git processes under it are children of this
// process; so is any command the bench itself runs, none during the
// snapshot's span). Zero when the process is gone.
func cpuTimes(pid int) (own, children time.Duration) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0
	}
	// The command name (field 2) may hold spaces: the fields after it are
	// counted from its closing parenthesis.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	// f[0] is field 3 (state): utime, stime, cutime, cstime are fields 14-17.
	tick := func(i int) time.Duration {
		if len(f) <= i-3 {
			return 0
		}
		v, _ := strconv.ParseInt(f[i-3], 10, 64)
		return time.Duration(v) * clockTick
	}
	return tick(14) + tick(15), tick(16) + tick(17)
}

// cpuMeter is the CPU time the stack's processes spend over a span of wall
// time: which of them the span's work is waiting for on a machine of two
// cores.
type cpuMeter struct {
	pids  map[string]int
	start map[string]time.Duration
	git   time.Duration
	wall  time.Time
}

// startCPU starts measuring the stack's server, kube-apiserver, etcd and
// the git server (this process's children).
func startCPU(st *stack.Stack) *cpuMeter {
	m := &cpuMeter{pids: map[string]int{
		"our server":     st.Server.Pid(),
		"kube-apiserver": st.KubeAPIServer.Pid(),
		"etcd":           st.Etcd.Pid(),
	}, start: map[string]time.Duration{}, wall: time.Now()}
	for name, pid := range m.pids {
		m.start[name], _ = cpuTimes(pid)
	}
	_, m.git = cpuTimes(os.Getpid())
	return m
}

// String is each process's CPU time since the start, and the wall time.
func (m *cpuMeter) String() string {
	wall := time.Since(m.wall)
	var parts []string
	for _, name := range []string{"our server", "kube-apiserver", "etcd"} {
		now, _ := cpuTimes(m.pids[name])
		parts = append(parts, fmt.Sprintf("%s %s", name, (now-m.start[name]).Round(10*time.Millisecond)))
	}
	_, git := cpuTimes(os.Getpid())
	parts = append(parts, fmt.Sprintf("git http-backend %s", (git-m.git).Round(10*time.Millisecond)))
	return fmt.Sprintf("CPU over %s of wall time (2 cores: %s at most): %s", wall.Round(time.Millisecond), (2 * wall).Round(time.Millisecond), strings.Join(parts, ", "))
}
