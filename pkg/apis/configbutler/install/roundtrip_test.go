package install

import (
	"testing"

	"k8s.io/apimachinery/pkg/api/apitesting/roundtrip"

	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler/fuzzer"
)

// TestRoundTripTypes fuzzes every kind through internal -> v1alpha1 -> internal
// (JSON and YAML) and requires the result to be unchanged.
func TestRoundTripTypes(t *testing.T) {
	roundtrip.RoundTripTestForAPIGroup(t, Install, fuzzer.Funcs)
}
