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

// TestLinkRefused: a watch the cluster answers with an error leaves the
// stream up and concerns only its feed (final for a 403); marks belong to one
// feed, so another feed of the same type neither inherits nor clears them.
func TestLinkRefused(t *testing.T) {
	cmsGVR := schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
	old, cms := feedKey{gvr: cmsGVR, id: 1}, feedKey{gvr: cmsGVR, id: 2}
	secrets := feedKey{gvr: schema.GroupVersionResource{Version: "v1", Resource: "secrets"}, id: 3}
	const forbidden = `configmaps is forbidden: User "system:serviceaccount:gitops-reverser:gitops-reverser" cannot watch`
	const webhook = `conversion webhook for example.com/v2 failed: service "convert" not found`
	type want struct {
		why   string // a part of refusedIn's reason; "" for none
		final bool
	}
	start := link{answered: true}
	for _, tc := range []struct {
		name    string
		steps   []func(link) link
		up      bool
		refused map[feedKey]want // refusedIn of each feed alone
	}{
		{name: "forbidden", steps: []func(link) link{
			func(l link) link { return l.refuse(cms, forbidden, true) },
		}, up: true, refused: map[feedKey]want{
			cms:     {"the server may not watch configmaps (its ClusterRole, the chart's rbac.readRules): " + forbidden, true},
			secrets: {},
		}},
		{name: "a conversion webhook down", steps: []func(link) link{
			func(l link) link { return l.refuse(cms, webhook, false) },
		}, up: true, refused: map[feedKey]want{cms: {"the cluster answers, but the watch of configmaps fails: " + webhook, false}}},
		{name: "forbidden after an outage", steps: []func(link) link{
			func(l link) link { return l.failed(cms, "refused") },
			link.probed,
			func(l link) link { return l.refuse(cms, forbidden, true) },
		}, up: true, refused: map[feedKey]want{cms: {forbidden, true}}},
		{name: "streaming again", steps: []func(link) link{
			func(l link) link { return l.refuse(cms, forbidden, true) },
			func(l link) link { return l.reopened(cms) },
		}, up: true, refused: map[feedKey]want{cms: {}}},
		{name: "a stopped feed's mark is not the new feed's", steps: []func(link) link{
			func(l link) link { return l.refuse(old, forbidden, true) },
		}, up: true, refused: map[feedKey]want{old: {forbidden, true}, cms: {}}},
		{name: "a stopped feed's exit does not clear the new feed's refusal", steps: []func(link) link{
			func(l link) link { return l.refuse(old, forbidden, true) },
			func(l link) link { return l.refuse(cms, webhook, false) },
			func(l link) link { return l.reopened(old) },
		}, up: true, refused: map[feedKey]want{old: {}, cms: {webhook, false}}},
		{name: "a stopped feed's exit does not clear the new feed's failure", steps: []func(link) link{
			func(l link) link { return l.failed(old, "refused") },
			func(l link) link { return l.failed(cms, "refused") },
			link.probed,
			func(l link) link { return l.reopened(old) },
		}, up: false, refused: map[feedKey]want{cms: {}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := start
			for _, step := range tc.steps {
				l = step(l)
			}
			if l.up() != tc.up {
				t.Errorf("up = %v, want %v (why %q)", l.up(), tc.up, l.why())
			}
			for k, w := range tc.refused {
				why, final := l.refusedIn([]feedKey{k})
				if (why != "") != (w.why != "") || !strings.Contains(why, w.why) || final != w.final {
					t.Errorf("refusedIn(%s #%d) = %q, final %v; want %q, final %v", k.gvr.Resource, k.id, why, final, w.why, w.final)
				}
			}
		})
	}
	// Both kinds in one target: the final one is named first.
	l := start.refuse(cms, webhook, false).refuse(secrets, forbidden, true)
	if why, final := l.refusedIn([]feedKey{cms, secrets}); !final || !strings.HasPrefix(why, "the server may not watch secrets") {
		t.Errorf("refusedIn(both) = %q, final %v; want the 403 first", why, final)
	}
}
