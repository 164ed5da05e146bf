// Command local-up brings up the whole local stack (test/stack) with its state
// in .local/, applies artifacts/example, prints how to reach it, and runs until
// interrupted; Ctrl-C stops every process it started. Run it with `make run`.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/configbutler/gitops-reverser/test/stack"
)

func main() {
	root, _ := os.Getwd()
	dir := flag.String("dir", filepath.Join(root, ".local"), "state directory (reused by the next run)")
	freePorts := flag.Bool("free-ports", false, "pick free ports (kept in the state directory) instead of the fixed ones; for tests")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, root, *dir, !*freePorts); err != nil {
		fmt.Fprintln(os.Stderr, "local-up:", err)
		os.Exit(1)
	}
}

// ReadyLine is printed once the API is usable through kube-apiserver
// (stack.WaitAPIReady): kubectl get, explain and apply all work from then on.
const ReadyLine = "API configbutler.ai/v1alpha1 is ready: APIService " + stack.APIServiceName + " Available, discovery and OpenAPI v3 served"

func run(ctx context.Context, root, dir string, fixedPorts bool) error {
	s, err := stack.Start(ctx, stack.Options{Dir: dir, RepoRoot: root, FixedPorts: fixedPorts, Progress: os.Stdout})
	if err != nil {
		return err
	}
	defer func() {
		fmt.Println("[stack] stopping")
		s.Stop()
	}()
	if err := s.ApplyExample(ctx); err != nil {
		return err
	}
	fmt.Printf("KUBECONFIG=%s\n", s.AdminKubeconfig)
	fmt.Printf("GIT_REMOTE=%s\n", s.GitRemote())
	fmt.Println("[stack] waiting for APIService", stack.APIServiceName, "to become Available and kube-apiserver to serve its discovery and OpenAPI v3...")
	if err := s.WaitAPIReady(ctx); err != nil {
		return err
	}
	fmt.Println(ReadyLine)
	fmt.Printf("[stack] logs in %s; try:\n", s.LogDir())
	fmt.Printf("  export KUBECONFIG=%s\n", s.AdminKubeconfig)
	fmt.Println("  kubectl get gittargets -A -o wide")
	fmt.Println("  kubectl get gittarget demo -n demo --subresource=gates")
	fmt.Println("  kubectl wait --for=condition=Ready gittarget/demo -n demo --timeout=2m")
	fmt.Printf("  git clone %s\n", s.GitRemote())
	fmt.Println("[stack] running; press Ctrl-C to stop")
	select {
	case <-ctx.Done():
	case <-s.Server.Exited():
		return fmt.Errorf("gitops-reverser-apiserver exited; see %s", s.Server.Log)
	case <-s.KubeAPIServer.Exited():
		return fmt.Errorf("kube-apiserver exited; see %s", s.KubeAPIServer.Log)
	}
	return nil
}
