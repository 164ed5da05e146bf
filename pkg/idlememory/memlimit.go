package idlememory

import (
	"os"
	"runtime/debug"
	"strconv"
	"strings"

	"k8s.io/klog/v2"
)

// ContainerMemoryEnv names the container's memory limit in bytes, as the
// Helm chart passes it (a resourceFieldRef of limits.memory).
const ContainerMemoryEnv = "GITOPS_REVERSER_MEMORY_LIMIT"

// MemoryLimitShare is the part of the container's memory limit the server
// gives Go's runtime as its soft limit (GOMEMLIMIT), in tenths. Go's limit
// counts only the runtime's own memory; the container's counts the binary's
// resident pages too (some 70 MiB, docs/benchmarks.md, "Where the memory
// is") and whatever the kernel charges the cgroup. A GOMEMLIMIT equal to the
// container's limit makes the collector work harder only once the container
// is already over it: too late to keep it from the OOM killer.
const MemoryLimitShare = 9

// MemoryLimit decides the runtime's soft memory limit from the GOMEMLIMIT
// environment variable (goMemLimit, and whether it is set at all) and the
// container's limit in bytes (container, from ContainerMemoryEnv): a set,
// non-empty GOMEMLIMIT has been applied by Go's runtime and stays (apply
// false); otherwise nine tenths of a container limit that parses as a
// positive number of bytes; otherwise none.
func MemoryLimit(goMemLimit string, set bool, container string) (limit int64, apply bool) {
	if set && goMemLimit != "" {
		return 0, false
	}
	bytes, err := strconv.ParseInt(strings.TrimSpace(container), 10, 64)
	if err != nil || bytes <= 0 {
		return 0, false
	}
	return bytes / 10 * MemoryLimitShare, true
}

// ApplyMemoryLimit sets this process's soft memory limit as MemoryLimit
// decides from its environment.
func ApplyMemoryLimit() {
	env, set := os.LookupEnv("GOMEMLIMIT")
	container := os.Getenv(ContainerMemoryEnv)
	if limit, apply := MemoryLimit(env, set, container); apply {
		debug.SetMemoryLimit(limit)
		klog.InfoS("Go memory limit set from the container's", "GOMEMLIMIT", limit, "containerLimit", container)
	} else if container != "" && !(set && env != "") {
		klog.InfoS("The container's memory limit does not parse as bytes; no Go memory limit set", "env", ContainerMemoryEnv, "value", container)
	}
}
