package snapshot

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/configbutler/gitops-reverser/pkg/lifecycle/mirror"
)

// BenchmarkPlan10kConfigMaps: the plan of a first snapshot of 10,000
// ConfigMaps of 1 KiB (as the bench's snapshot phase makes them), with
// nothing in the branch: filter, render, hash and compress every file, and
// record it. Neither the LIST nor the push: what the snapshot's own CPU and
// allocations are, without the cluster and the git server.
func BenchmarkPlan10kConfigMaps(b *testing.B) {
	const n = 10000
	objs := make([]unstructured.Unstructured, n)
	for i := range objs {
		seed := fmt.Sprintf("object %d version 0 ", i)
		objs[i] = unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "v1", "kind": "ConfigMap",
			"metadata": map[string]any{"name": fmt.Sprintf("cm-%05d", i), "namespace": "demo", "resourceVersion": fmt.Sprint(100 + i),
				"uid": fmt.Sprintf("0000-%05d", i), "labels": map[string]any{"app.kubernetes.io/part-of": "bench"},
				"creationTimestamp": "2026-12-07T00:00:00Z"},
			"data": map[string]any{"payload": strings.Repeat(seed, 1024/len(seed)+1)[:1024], "seq": "0"},
		}}
	}
	tgt := &mirror.Target{Key: "demo/t", Path: "base", Selection: demoSelection(cmGVR)}
	list := clearingLister(map[schema.GroupVersionResource][]unstructured.Unstructured{cmGVR: objs})
	b.ReportAllocs()
	for b.Loop() {
		p, err := Compute(context.Background(), tgt, memTree{}, nil, list, nil)
		if err != nil || p.Stats.Created != n {
			b.Fatalf("created %d, %v", p.Stats.Created, err)
		}
	}
}
