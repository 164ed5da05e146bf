package stream

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/runtime/schema"
)

// TestLink: the stream is up only when the cluster answers and every feed
// whose watch failed has reopened; routine steps change nothing.
func TestLink(t *testing.T) {
	cms := feedKey{gvr: schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}, id: 1}
	secrets := feedKey{gvr: schema.GroupVersionResource{Version: "v1", Resource: "secrets"}, id: 2}
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

// TestLinkDenied: a refused watch (the server may not read the type) leaves
// the stream up and denies only its feed; marks belong to one feed, so
// another feed of the same type neither inherits nor clears them.
func TestLinkDenied(t *testing.T) {
	cmsGVR := schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
	old, cms := feedKey{gvr: cmsGVR, id: 1}, feedKey{gvr: cmsGVR, id: 2}
	secrets := feedKey{gvr: schema.GroupVersionResource{Version: "v1", Resource: "secrets"}, id: 3}
	const refused = `configmaps is forbidden: User "system:serviceaccount:gitops-reverser:gitops-reverser" cannot watch`
	start := link{answered: true}
	for _, tc := range []struct {
		name   string
		steps  []func(link) link
		up     bool
		denied map[feedKey]bool // deniedIn of each feed alone
	}{
		{name: "refused", steps: []func(link) link{
			func(l link) link { return l.forbidden(cms, refused) },
		}, up: true, denied: map[feedKey]bool{cms: true, secrets: false}},
		{name: "refused after an outage", steps: []func(link) link{
			func(l link) link { return l.failed(cms, "refused") },
			link.probed,
			func(l link) link { return l.forbidden(cms, refused) },
		}, up: true, denied: map[feedKey]bool{cms: true}},
		{name: "readable again", steps: []func(link) link{
			func(l link) link { return l.forbidden(cms, refused) },
			func(l link) link { return l.reopened(cms) },
		}, up: true, denied: map[feedKey]bool{cms: false}},
		{name: "a stopped feed's mark is not the new feed's", steps: []func(link) link{
			func(l link) link { return l.forbidden(old, refused) },
		}, up: true, denied: map[feedKey]bool{old: true, cms: false}},
		{name: "a stopped feed's exit does not clear the new feed's denial", steps: []func(link) link{
			func(l link) link { return l.forbidden(old, refused) },
			func(l link) link { return l.forbidden(cms, refused) },
			func(l link) link { return l.reopened(old) },
		}, up: true, denied: map[feedKey]bool{old: false, cms: true}},
		{name: "a stopped feed's exit does not clear the new feed's failure", steps: []func(link) link{
			func(l link) link { return l.failed(old, "refused") },
			func(l link) link { return l.failed(cms, "refused") },
			link.probed,
			func(l link) link { return l.reopened(old) },
		}, up: false, denied: map[feedKey]bool{cms: false}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := start
			for _, step := range tc.steps {
				l = step(l)
			}
			if l.up() != tc.up {
				t.Errorf("up = %v, want %v (why %q)", l.up(), tc.up, l.why())
			}
			for k, want := range tc.denied {
				why := l.deniedIn([]feedKey{k})
				if (why != "") != want {
					t.Errorf("deniedIn(%s #%d) = %q, want denied: %v", k.gvr.Resource, k.id, why, want)
				}
				if want && (!strings.Contains(why, "the server may not watch configmaps") || !strings.Contains(why, refused)) {
					t.Errorf("deniedIn = %q, want it to name the type and the refusal", why)
				}
			}
		})
	}
}
