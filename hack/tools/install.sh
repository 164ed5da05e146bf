#!/usr/bin/env bash
# Builds the pinned tools into <repo>/bin, skipping any tool already built at its pin.
#   kube-apiserver, kube-controller-manager, kubectl
#                            k8s.io/kubernetes v1.37.2 (hack/tools/go.mod)
#   kubelet, kube-scheduler, kube-proxy
#                            the same pin; only for the one-node cluster of
#                            `make test-cluster` (the "node" group)
#   etcd                     go.etcd.io/etcd/server/v3 (hack/tools/go.mod)
#   sops                     github.com/getsops/sops/v3 v3.13.3 (hack/tools/sops/go.mod)
#   helm                     helm.sh/helm/v3 v3.22.0 (hack/tools/helm/go.mod)
#   etcd-<arch>              that etcd for linux/<arch> (amd64, arm64) into
#                            bin/linux_<arch>/: the other platform of the etcd
#                            image (hack/image.sh builds it when needed)
#   promtool                 github.com/prometheus/prometheus v0.314.0 (Prometheus
#                            3.14.0; hack/tools/promtool/go.mod), without the
#                            service discovery plugins rule checks do not use
#   flux-crds                the GitRepository CRD of Flux's source-controller
#                            v1.8.0, as released (github.com/fluxcd/source-controller,
#                            Apache-2.0), from the Go module proxy: the e2e tests
#                            install it to push through a GitRepository (no Flux
#                            controller runs). Into bin/flux/.
# Usage: hack/tools/install.sh [tool...|node]   (default: all but the node group)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
bin="$root/bin"
mkdir -p "$bin"

KUBE_VERSION=v1.37.2
SOPS_VERSION=v3.13.3
HELM_VERSION=v3.22.0
FLUX_SOURCE_VERSION=v1.8.0
PROMTOOL_VERSION=v0.314.0
ETCD_VERSION=$(cd "$here" && go list -m -f '{{.Version}}' go.etcd.io/etcd/server/v3)

log() { printf '[tools] %s\n' "$*" >&2; }

# build <name> <pin> <module dir> <package> [ldflags] [tags]
build() {
  local name=$1 pin=$2 dir=$3 pkg=$4 ldflags=${5:-} tags=${6:-}
  local stamp="$bin/.$name.version"
  if [[ -x "$bin/$name" && -f "$stamp" && "$(cat "$stamp")" == "$pin" ]]; then
    log "$name $pin: already built"
    return
  fi
  log "building $name $pin (first build takes minutes)..."
  local start=$SECONDS
  (cd "$dir" && CGO_ENABLED=0 go build -trimpath -tags "$tags" -ldflags "-s -w $ldflags" -o "$bin/$name.tmp" "$pkg")
  mv "$bin/$name.tmp" "$bin/$name"
  echo "$pin" >"$stamp"
  log "built $name $pin in $((SECONDS - start))s"
}

# cross <name> <pin> <module dir> <package> <arch>: a linux/<arch> build into
# bin/linux_<arch>/<name>, skipped when already built at its pin.
cross() {
  local name=$1 pin=$2 dir=$3 pkg=$4 arch=$5
  local out="$bin/linux_$arch"
  local stamp="$out/.$name.version"
  if [[ -x "$out/$name" && -f "$stamp" && "$(cat "$stamp")" == "$pin" ]]; then
    log "$name $pin linux/$arch: already built"
    return
  fi
  log "building $name $pin for linux/$arch..."
  mkdir -p "$out"
  (cd "$dir" && CGO_ENABLED=0 GOOS=linux GOARCH="$arch" go build -trimpath -buildvcs=false -ldflags "-s -w" -o "$out/$name.tmp" "$pkg")
  mv "$out/$name.tmp" "$out/$name"
  echo "$pin" >"$stamp"
}

# What Prometheus's release build stamps into promtool --version.
promtool_ldflags() {
  local p=github.com/prometheus/common/version
  echo "-X $p.Version=3.14.0 -X $p.Revision=d7598b7141418fa35be2b5ec5d0fefb634199610 -X $p.Branch=HEAD -X $p.BuildUser=hack/tools -X $p.BuildDate=19700101-00:00:00"
}

# flux_crds copies Flux's GitRepository CRD out of the source-controller
# module (downloaded, not built: only its YAML is used).
flux_crds() {
  local out="$bin/flux/gitrepositories.yaml" stamp="$bin/.flux-crds.version"
  if [[ -f "$out" && -f "$stamp" && "$(cat "$stamp")" == "$FLUX_SOURCE_VERSION" ]]; then
    log "flux-crds $FLUX_SOURCE_VERSION: already there"
    return
  fi
  local dir
  dir=$(cd "$here" && go mod download -json "github.com/fluxcd/source-controller@$FLUX_SOURCE_VERSION" |
    sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  [[ -n "$dir" ]] || { log "flux-crds: downloading github.com/fluxcd/source-controller@$FLUX_SOURCE_VERSION failed"; exit 1; }
  mkdir -p "$bin/flux"
  install -m 0644 "$dir/config/crd/bases/source.toolkit.fluxcd.io_gitrepositories.yaml" "$out"
  echo "$FLUX_SOURCE_VERSION" >"$stamp"
  log "flux-crds $FLUX_SOURCE_VERSION: copied"
}

kube_ldflags() {
  local v=$KUBE_VERSION major minor
  major=${v#v}; major=${major%%.*}
  minor=${v#v*.}; minor=${minor%%.*}
  local out=""
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    out+=" -X $p.gitVersion=$v -X $p.gitMajor=$major -X $p.gitMinor=$minor"
    out+=" -X $p.gitTreeState=clean -X $p.buildDate=1970-01-01T00:00:00Z"
  done
  echo "$out"
}

# What helm's own release build stamps: its version, and the Kubernetes version
# of its client-go (major+1 for the v0.x module tags) as the default
# .Capabilities.KubeVersion of helm template/lint (unstamped it is v1.20.0).
helm_ldflags() {
  local cg major minor
  cg=$(cd "$here/helm" && go list -m -f '{{.Version}}' k8s.io/client-go)
  cg=${cg#v}
  major=$((${cg%%.*} + 1))
  minor=${cg#*.}; minor=${minor%%.*}
  local out="-X helm.sh/helm/v3/internal/version.version=$HELM_VERSION"
  out+=" -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
  for p in helm.sh/helm/v3/pkg/lint/rules helm.sh/helm/v3/pkg/chartutil; do
    out+=" -X $p.k8sVersionMajor=$major -X $p.k8sVersionMinor=$minor"
  done
  echo "$out"
}

tools=("$@")
[[ ${#tools[@]} -gt 0 ]] || tools=(etcd kube-apiserver kube-controller-manager kubectl sops helm promtool flux-crds)
expanded=()
for t in "${tools[@]}"; do
  if [[ $t == node ]]; then expanded+=(kube-scheduler kube-proxy kubelet); else expanded+=("$t"); fi
done
for t in "${expanded[@]}"; do
  case $t in
    kube-scheduler|kube-proxy|kubelet) build "$t" "$KUBE_VERSION" "$here" "k8s.io/kubernetes/cmd/$t" "$(kube_ldflags)" ;;
    kube-apiserver) build kube-apiserver "$KUBE_VERSION" "$here" k8s.io/kubernetes/cmd/kube-apiserver "$(kube_ldflags)" ;;
    kube-controller-manager) build kube-controller-manager "$KUBE_VERSION" "$here" k8s.io/kubernetes/cmd/kube-controller-manager "$(kube_ldflags)" ;;
    kubectl) build kubectl "$KUBE_VERSION" "$here" k8s.io/kubernetes/cmd/kubectl "$(kube_ldflags)" ;;
    etcd) build etcd "$ETCD_VERSION" "$here" go.etcd.io/etcd/server/v3 ;;
    etcd-amd64|etcd-arm64) cross etcd "$ETCD_VERSION" "$here" go.etcd.io/etcd/server/v3 "${t#etcd-}" ;;
    sops) build sops "$SOPS_VERSION" "$here/sops" github.com/getsops/sops/v3/cmd/sops ;;
    helm) build helm "$HELM_VERSION" "$here/helm" helm.sh/helm/v3/cmd/helm "$(helm_ldflags)" ;;
    promtool) build promtool "$PROMTOOL_VERSION" "$here/promtool" github.com/prometheus/prometheus/cmd/promtool "$(promtool_ldflags)" remove_all_sd ;;
    flux-crds) flux_crds ;;
    *) log "unknown tool $t"; exit 2 ;;
  esac
done
