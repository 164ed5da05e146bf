#!/usr/bin/env bash
# make image: the images we ship, as OCI image-layout tarballs under
# _output/images, built without Docker by hack/image (reproducible: the same
# commit and tools give the same digests; SOURCE_DATE_EPOCH sets every time,
# default 0):
#   gitops-reverser-apiserver.tar  the static server binary (+ CA bundle), user 65532,
#                                  for linux/amd64 and linux/arm64 (an image index)
#   etcd.tar                       etcd at the version every test runs on (bin/etcd),
#                                  for linux/amd64 and linux/arm64 (an image index)
#   pause.tar                      the pod sandbox image of the one-node test cluster
#                                  (this machine's platform only)
# Load one with `ctr -n k8s.io images import FILE` or `docker load -i FILE`.
# Prints "<reference> <digest> <file>" per image, and writes them to
# _output/images/digests.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
out=${IMAGE_OUT:-_output/images}
work=$out/.build
mkdir -p "$out" "$work"

REPO=${IMAGE_REPO:-ghcr.io/configbutler/gitops-reverser-apiserver}
TAG=${IMAGE_TAG:-$(sed -n 's/^appVersion: *//p' charts/gitops-reverser/Chart.yaml)}
ETCD_REPO=${ETCD_IMAGE_REPO:-ghcr.io/configbutler/gitops-reverser-etcd}
ETCD_VERSION=$(cat bin/.etcd.version)
VERSION=${VERSION:-$TAG}
PKG=github.com/configbutler/gitops-reverser

# Static binaries; -trimpath, no VCS stamp and a fixed version string keep
# them reproducible (a dirty tree must not change the digest).
host=$(go env GOARCH)
server_platforms=() etcd_platforms=()
for arch in amd64 arm64; do
  CGO_ENABLED=0 GOOS=linux GOARCH=$arch go build -trimpath -buildvcs=false \
    -ldflags "-s -w -X $PKG/pkg/cmd/server.Version=$VERSION" -o "$work/linux_$arch/gitops-reverser-apiserver" ./cmd/apiserver
  server_platforms+=(-platform "$arch=$work/linux_$arch/gitops-reverser-apiserver")
  if [[ $arch == "$host" ]]; then
    etcd_platforms+=(-platform "$arch=bin/etcd")
  else
    hack/tools/install.sh "etcd-$arch"
    etcd_platforms+=(-platform "$arch=bin/linux_$arch/etcd")
  fi
done
CGO_ENABLED=0 go build -trimpath -buildvcs=false -ldflags "-s -w" -o "$work/pause" ./hack/pause
go build -o "$work/image" ./hack/image

ca=/etc/ssl/certs/ca-certificates.crt
ca_args=()
[[ -f $ca ]] && ca_args=(-ca-certs "$ca")

{
  "$work/image" "${server_platforms[@]}" -path /usr/local/bin/gitops-reverser-apiserver \
    -ref "$REPO:$TAG" -out "$out/gitops-reverser-apiserver.tar" "${ca_args[@]}"
  "$work/image" "${etcd_platforms[@]}" -path /usr/local/bin/etcd -ref "$ETCD_REPO:$ETCD_VERSION" -out "$out/etcd.tar"
  "$work/image" -binary "$work/pause" -path /pause -user 65535:65535 -ref registry.k8s.io/pause:3.10 -out "$out/pause.tar"
} | tee "$out/digests"
