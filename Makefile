# gitops-reverser apiserver. `make run` brings up the local stack; `make test` runs
# every test. Tools are built from the Go module proxy into bin/ (hack/tools).
SHELL := /usr/bin/env bash
.SHELLFLAGS := -eu -o pipefail -c

BIN     := $(CURDIR)/bin
PKG     := github.com/configbutler/gitops-reverser
# Must stay semver: kubectl parses the server's /version.
VERSION ?= v0.1.0-dev+$(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
LDFLAGS := -X $(PKG)/pkg/cmd/server.Version=$(VERSION)

.PHONY: all build tools tools-node generate verify-codegen verify-deploy vet test test-go test-cluster image run bench clean

all: build

## build: the server binary, bin/gitops-reverser-apiserver
build:
	go build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/gitops-reverser-apiserver ./cmd/apiserver

## tools: kube-apiserver, kubectl (v1.37.2), etcd, sops (v3.13.3), helm, promtool, Flux's GitRepository CRD into bin/, each once
tools:
	hack/tools/install.sh

## tools-node: kubelet, kube-scheduler, kube-proxy (same pin) and Debian's containerd,
## runc, CNI plugins and iptables: what the one-node cluster of test-cluster needs
tools-node: tools
	hack/tools/install.sh node
	hack/node-packages.sh

## image: OCI image tarballs (server, etcd, pause) into _output/images, reproducibly
image: tools
	hack/image.sh

## generate: regenerate deepcopy, defaults, conversion, OpenAPI, clientset, listers, informers
generate:
	hack/update-codegen.sh

## verify-codegen: fail when generated code is stale
verify-codegen:
	hack/verify-codegen.sh

## verify-deploy: fail when artifacts/deploy differs from the chart's rendering (hack/update-deploy.sh)
verify-deploy: tools
	hack/verify-deploy.sh

vet:
	@out=$$(gofmt -l $$(git ls-files '*.go') 2>/dev/null); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	go vet ./...

## test: every test: codegen and deploy checks, vet, unit, integration, smoke,
## end-to-end, and the install on a one-node cluster
test: tools build verify-codegen verify-deploy vet test-go test-cluster

test-go:
	hack/run-tests.sh ./...

## test-cluster: our images and Helm chart on a real one-node cluster (needs root)
test-cluster: tools-node build image
	hack/test-cluster.sh

## run: the whole local stack (etcd, kube-apiserver, our server, a git remote, the example)
run: tools build
	hack/local-up.sh

## bench: benchmarks against their baselines (never part of make test)
bench: tools build
	hack/bench.sh

clean:
	rm -rf $(BIN) _output .bench
