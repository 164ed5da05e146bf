// Command pause is the pod sandbox ("pause") process of the one-node test
// cluster (test/node): no registry is reachable there, so the image kubelet's
// sandboxes run is built by hack/image from this. Like the upstream pause, it
// sleeps until SIGINT or SIGTERM and reaps the zombies of a shared PID
// namespace.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for s := range sigs {
		if s != syscall.SIGCHLD {
			os.Exit(0)
		}
		for {
			var ws syscall.WaitStatus
			if pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil); pid <= 0 || err != nil {
				break
			}
		}
	}
}
