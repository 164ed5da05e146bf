// Package fuzzer holds fuzz functions for round-trip tests of the configbutler.ai types.
package fuzzer

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	runtimeserializer "k8s.io/apimachinery/pkg/runtime/serializer"
	"sigs.k8s.io/randfill"

	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler"
)

// Funcs returns fuzz functions that keep defaulted fields at non-default values,
// so a decode (which defaults) gives back exactly what was encoded.
var Funcs = func(_ runtimeserializer.CodecFactory) []interface{} {
	return []interface{}{
		func(p *configbutler.PushPolicy, c randfill.Continue) {
			p.Interval = metav1.Duration{Duration: time.Duration(1+c.Intn(3600)) * time.Second}
			p.MaxChanges = int32(1 + c.Intn(10000))
		},
		func(r *configbutler.GitProviderReference, c randfill.Continue) {
			c.FillNoCustom(r)
			if r.Group == "" {
				r.Group = "configbutler.ai"
			}
			if r.Kind == "" {
				r.Kind = "GitProvider"
			}
		},
		func(r *configbutler.LocalTargetReference, c randfill.Continue) {
			c.FillNoCustom(r)
			r.Group, r.Kind = orDefault(r.Group, "configbutler.ai"), orDefault(r.Kind, "GitTarget")
		},
		func(r *configbutler.NamespacedTargetReference, c randfill.Continue) {
			c.FillNoCustom(r)
			r.Group, r.Kind = orDefault(r.Group, "configbutler.ai"), orDefault(r.Kind, "GitTarget")
		},
		func(r *configbutler.LocalSecretReference, c randfill.Continue) {
			c.FillNoCustom(r)
			if r.Name != "" {
				r.Kind = orDefault(r.Kind, "Secret")
			}
		},
		func(e *configbutler.EncryptionSpec, c randfill.Continue) {
			c.FillNoCustom(e)
			e.Provider = orDefault(e.Provider, "sops")
		},
	}
}

func orDefault(v, d string) string {
	if v == "" {
		return d
	}
	return v
}
