package restore

import (
	"fmt"
	"strings"
	"testing"
)

// TestUnified: hunks with three lines of context, merged when close, the
// ranges of diff -u.
func TestUnified(t *testing.T) {
	var a, b []string
	for i := 1; i <= 20; i++ {
		a = append(a, fmt.Sprintf("l%d\n", i))
	}
	b = append(b, a...)
	b[1] = "changed2\n"
	b = append(b[:15], b[16:]...)                               // remove l16
	b = append(b[:18], append([]string{"new\n"}, b[18:]...)...) // insert before l20
	got := unified(a, b, "current", "restored")
	want := `--- current
+++ restored
@@ -1,5 +1,5 @@
 l1
-l2
+changed2
 l3
 l4
 l5
@@ -13,8 +13,8 @@
 l13
 l14
 l15
-l16
 l17
 l18
 l19
+new
 l20
`
	if got != want {
		t.Errorf("diff:\n%s\nwant:\n%s", got, want)
	}
	if d := unified(a, a, "x", "y"); d != "" {
		t.Errorf("equal texts: %q", d)
	}
	if d := unified(nil, splitLines("a\nb\n"), "current", "restored"); d != "--- current\n+++ restored\n@@ -0,0 +1,2 @@\n+a\n+b\n" {
		t.Errorf("creation: %q", d)
	}
	if d := unified(splitLines("a\n"), nil, "current", "restored"); d != "--- current\n+++ restored\n@@ -1 +0,0 @@\n-a\n" {
		t.Errorf("deletion: %q", d)
	}
}

// TestObjectDiffMasksSecrets: a Secret's values never show in a diff, but
// which keys change does.
func TestObjectDiffMasksSecrets(t *testing.T) {
	cur := obj("v1", "Secret", "a", "db", map[string]any{"data": map[string]any{"user": "YWRtaW4=", "password": "b2xk", "gone": "eA=="}})
	cur.SetAnnotations(map[string]string{"token": "annotation-secret"})
	next := obj("v1", "Secret", "a", "db", map[string]any{"data": map[string]any{"user": "YWRtaW4=", "password": "bmV3", "added": "eQ=="}})
	next.SetAnnotations(map[string]string{"token": "annotation-secret-2"})
	d := objectDiff(cur, next, 0)
	for _, v := range []string{"YWRtaW4=", "b2xk", "bmV3", "eA==", "eQ==", "annotation-secret"} {
		if strings.Contains(d, v) {
			t.Errorf("the diff shows the value %s:\n%s", v, d)
		}
	}
	for _, l := range []string{"+  added: '*** (changed)'", "-  gone: '***'", "-  password: '***'", "+  password: '*** (changed)'", "   user: '***'", "-    token: '***'", "+    token: '*** (changed)'"} {
		if !strings.Contains(d, l+"\n") {
			t.Errorf("the diff lacks %q:\n%s", l, d)
		}
	}
	if cur.Object["data"].(map[string]any)["user"] != "YWRtaW4=" {
		t.Error("masking changed the object")
	}
	// Other objects show their values.
	if d := objectDiff(configMap("a", "c", map[string]any{"k": "old"}), configMap("a", "c", map[string]any{"k": "new"}), 0); !strings.Contains(d, "+  k: new\n") {
		t.Errorf("ConfigMap diff:\n%s", d)
	}
}

// TestObjectDiffLimit: a diff is cut at a line within its limit.
func TestObjectDiffLimit(t *testing.T) {
	data := map[string]any{}
	for i := range 200 {
		data[fmt.Sprintf("key%03d", i)] = strings.Repeat("v", 40)
	}
	d := objectDiff(nil, configMap("a", "big", data), 1024)
	if len(d) > 1100 || !strings.Contains(d, "... diff cut at") {
		t.Fatalf("%d bytes:\n%s", len(d), d)
	}
}
