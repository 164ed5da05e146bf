# gitops-reverser apiserver. `make run` brings up the local stack; `make test` runs
# every test. Tools are built from the Go module proxy into bin/ (hack/tools).
SHELL := /usr/bin/env bash
.SHELLFLAGS := -eu -o pipefail -c

BIN     := $(CURDIR)/bin
PKG     := github.com/configbutler/gitops-reverser
# Must stay semver: kubectl parses the server's /version.
VERSION ?= v0.1.0-dev+$(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
LDFLAGS := -X $(PKG)/pkg/cmd/server.Version=$(VERSION)

.PHONY: all build tools generate verify-codegen vet test test-go run bench clean

all: build

## build: the server binary, bin/gitops-reverser-apiserver
build:
	go build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/gitops-reverser-apiserver ./cmd/apiserver

## tools: kube-apiserver, kubectl (v1.37.2), etcd, sops (v3.13.3) into bin/, each built once
tools:
	hack/tools/install.sh

## generate: regenerate deepcopy, defaults, conversion, OpenAPI, clientset, listers, informers
generate:
	hack/update-codegen.sh

## verify-codegen: fail when generated code is stale
verify-codegen:
	hack/verify-codegen.sh

vet:
	@out=$$(gofmt -l $$(git ls-files '*.go') 2>/dev/null); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	go vet ./...

## test: every test: codegen check, vet, unit, integration, smoke and end-to-end
test: tools build verify-codegen vet test-go

test-go:
	hack/run-tests.sh ./...

## run: the whole local stack (etcd, kube-apiserver, our server, a git remote, the example)
run: tools build
	hack/local-up.sh

## bench: benchmarks against their baselines (never part of make test)
bench: tools build
	hack/bench.sh

clean:
	rm -rf $(BIN) _output .bench
