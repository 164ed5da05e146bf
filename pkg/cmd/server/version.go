package server

import (
	"fmt"
	"runtime"

	utilversion "k8s.io/apimachinery/pkg/util/version"
	apimachineryversion "k8s.io/apimachinery/pkg/version"
	basecompatibility "k8s.io/component-base/compatibility"
)

// Version is the product version, set at build time with
// -ldflags "-X github.com/configbutler/gitops-reverser/pkg/cmd/server.Version=v0.2.0".
var Version = "v0.1.0-dev"

// productVersion keeps the Kubernetes effective version the generic apiserver
// gates its features on (the k8s.io/apiserver release we build with), but
// reports our own version on /version, where kubectl expects parseable semver.
type productVersion struct {
	basecompatibility.EffectiveVersion
}

// Info implements basecompatibility.EffectiveVersion.
func (p productVersion) Info() *apimachineryversion.Info {
	info := p.EffectiveVersion.Info()
	out := apimachineryversion.Info{
		GitVersion: Version, GoVersion: runtime.Version(), Compiler: runtime.Compiler,
		Platform: fmt.Sprintf("%s/%s", runtime.GOOS, runtime.GOARCH),
	}
	if v, err := utilversion.ParseSemantic(Version); err == nil {
		out.Major, out.Minor = fmt.Sprint(v.Major()), fmt.Sprint(v.Minor())
	}
	if info != nil {
		out.EmulationMajor, out.EmulationMinor = info.EmulationMajor, info.EmulationMinor
		out.MinCompatibilityMajor, out.MinCompatibilityMinor = info.MinCompatibilityMajor, info.MinCompatibilityMinor
	}
	return &out
}
