// Package integration tests the API server in-process (standalone, embedded etcd,
// watch cache on) through the generated clientset and raw HTTP.
package integration

import (
	"context"
	"fmt"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/configbutler/gitops-reverser/test/framework"
)

// srv is shared by all tests of the package: one in-process server per binary
// (the generic apiserver registers process-global metrics and feature gates).
var srv *framework.Server

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "gitops-reverser-integration-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	srv, err = framework.Start(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "starting server:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	srv.Stop()
	os.RemoveAll(dir)
	os.Exit(code)
}

var nsCounter atomic.Int32

// namespace returns a fresh namespace for a test. Our server does not require
// namespaces to exist (it has no namespace lifecycle admission of its own).
func namespace() string {
	return fmt.Sprintf("it-%d", nsCounter.Add(1))
}

func testContext(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return c
}
