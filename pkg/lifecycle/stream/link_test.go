package stream

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/runtime/schema"
)

// TestLink: the stream is up only when the cluster answers and every feed
// whose watch failed has reopened; routine steps change nothing.
func TestLink(t *testing.T) {
	cms := schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
	secrets := schema.GroupVersionResource{Version: "v1", Resource: "secrets"}
	start := link{answered: true}
	for _, tc := range []struct {
		name  string
		steps []func(link) link
		up    bool
		why   string // a part of the reason when not up
	}{
		{name: "nothing failed", up: true},
		{name: "a watch failed", steps: []func(link) link{
			func(l link) link { return l.failed(cms, "watch of configmaps failed: refused") },
		}, why: "watch of configmaps failed: refused"},
		{name: "the cluster answers, the watch has not reopened", steps: []func(link) link{
			func(l link) link { return l.failed(cms, "watch of configmaps failed: refused") },
			link.probed,
		}, why: "the cluster answers; the watch of /v1, Resource=configmaps has not reopened yet (watch of configmaps failed: refused)"},
		{name: "the watch reopened before the probe answered", steps: []func(link) link{
			func(l link) link { return l.failed(cms, "refused") },
			func(l link) link { return l.reopened(cms) },
		}, why: "refused"},
		{name: "answered and reopened", steps: []func(link) link{
			func(l link) link { return l.failed(cms, "refused") },
			link.probed,
			func(l link) link { return l.reopened(cms) },
		}, up: true},
		{name: "one of two watches reopened", steps: []func(link) link{
			func(l link) link { return l.failed(cms, "refused") },
			func(l link) link { return l.failed(secrets, "refused") },
			link.probed,
			func(l link) link { return l.reopened(secrets) },
		}, why: "the watch of /v1, Resource=configmaps has not reopened"},
		{name: "both reopened", steps: []func(link) link{
			func(l link) link { return l.failed(cms, "refused") },
			func(l link) link { return l.failed(secrets, "refused") },
			link.probed,
			func(l link) link { return l.reopened(secrets) },
			func(l link) link { return l.reopened(cms) },
		}, up: true},
		{name: "another reader found the cluster down", steps: []func(link) link{
			func(l link) link { return l.unreachable("discovery: refused") },
		}, why: "discovery: refused"},
		{name: "a watch that never failed reopening changes nothing", steps: []func(link) link{
			func(l link) link { return l.unreachable("refused") },
			func(l link) link { return l.reopened(cms) },
		}, why: "refused"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := start
			for _, step := range tc.steps {
				before := l
				beforeBroken := len(before.broken)
				l = step(l)
				if len(before.broken) != beforeBroken {
					t.Fatalf("a step changed the link it was given")
				}
			}
			if l.up() != tc.up {
				t.Fatalf("up = %v, want %v (why %q)", l.up(), tc.up, l.why())
			}
			if tc.up && l.why() != "" {
				t.Errorf("up, but why = %q", l.why())
			}
			if !tc.up && !strings.Contains(l.why(), tc.why) {
				t.Errorf("why = %q, want it to say %q", l.why(), tc.why)
			}
		})
	}
}
