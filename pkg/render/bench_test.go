package render

import (
	"strings"
	"testing"

	goyaml "go.yaml.in/yaml/v2"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

// benchObj is a ConfigMap of 1 KiB, as in `make bench`.
func benchObj() *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]interface{}{
		"apiVersion": "v1", "kind": "ConfigMap",
		"metadata": map[string]interface{}{"name": "cm-00001", "namespace": "bench-snap", "resourceVersion": "12345",
			"uid": "0b8c1f6e-4a7b-4e9a-9c1d-2f3e4a5b6c7d", "creationTimestamp": "2026-11-25T19:00:00Z",
			"labels": map[string]interface{}{"app.kubernetes.io/part-of": "bench"}},
		"data": map[string]interface{}{"payload": strings.Repeat("object 1 version 0 ", 54)[:1024], "seq": "0"},
	}}
}

// BenchmarkRender against BenchmarkRenderJSONRoundTrip: the same bytes (see
// TestRenderMatchesJSONRoundTrip), written the old way.
func BenchmarkRender(b *testing.B) {
	o := benchObj()
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := Render(o); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRenderJSONRoundTrip(b *testing.B) {
	o := benchObj()
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := yaml.Marshal(Sanitize(o).Object); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRenderGoYAML is Render with go-yaml writing every object: what
// the emitter (emit.go) is measured against.
func BenchmarkRenderGoYAML(b *testing.B) {
	o := benchObj()
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := goyaml.Marshal(ordered(defaultCleaner.clean(o.Object, "", o.GetKind()), true)); err != nil {
			b.Fatal(err)
		}
	}
}
