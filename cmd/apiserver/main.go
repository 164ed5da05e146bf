// Command gitops-reverser-apiserver serves configbutler.ai/v1alpha1 as a
// Kubernetes aggregated API server and mirrors cluster resources into Git.
package main

import (
	"os"

	genericapiserver "k8s.io/apiserver/pkg/server"
	"k8s.io/component-base/cli"

	"github.com/configbutler/gitops-reverser/pkg/cmd/server"
)

func main() {
	ctx := genericapiserver.SetupSignalContext()
	cmd := server.NewCommand(ctx, server.NewOptions(os.Stdout, os.Stderr))
	os.Exit(cli.Run(cmd))
}
