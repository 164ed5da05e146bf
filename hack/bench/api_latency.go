package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
)

// watchLatency opens a watch on each endpoint, then n times changes a label on
// a random object through each endpoint in turn, measuring from sending the
// change to its watcher seeing it.
func watchLatency(ctx context.Context, eps []endpoint, objects, n int) ([][]time.Duration, error) {
	watchers := make([]watch.Interface, len(eps))
	for j, ep := range eps {
		res := ep.dyn.Resource(ep.gvr).Namespace(apiNamespace)
		l, err := res.List(ctx, metav1.ListOptions{Limit: 1})
		if err != nil {
			return nil, err
		}
		if watchers[j], err = res.Watch(ctx, metav1.ListOptions{ResourceVersion: l.GetResourceVersion()}); err != nil {
			return nil, fmt.Errorf("watch %s: %w", ep.name, err)
		}
		defer watchers[j].Stop()
	}
	out := make([][]time.Duration, len(eps))
	tag := fmt.Sprintf("%d", time.Now().UnixNano())
	for i := 0; i < n; i++ {
		for j, ep := range eps {
			name := targetName(rand.IntN(objects))
			want := fmt.Sprintf("%s-%d-%d", tag, i, j)
			patch := fmt.Sprintf(`{"metadata":{"labels":{"bench-seq":%q}}}`, want)
			t0 := time.Now()
			if _, err := ep.dyn.Resource(ep.gvr).Namespace(apiNamespace).Patch(ctx, name, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
				return nil, fmt.Errorf("patch through %s: %w", ep.name, err)
			}
			timeout := time.After(30 * time.Second)
		wait:
			for {
				select {
				case ev, ok := <-watchers[j].ResultChan():
					if !ok {
						return nil, fmt.Errorf("watch %s closed", ep.name)
					}
					u, ok := ev.Object.(*unstructured.Unstructured)
					if ev.Type == watch.Modified && ok && u.GetName() == name && u.GetLabels()["bench-seq"] == want {
						out[j] = append(out[j], time.Since(t0))
						break wait
					}
				case <-timeout:
					return nil, fmt.Errorf("watch %s: no event for %s within 30s", ep.name, name)
				}
			}
		}
	}
	return out, nil
}
