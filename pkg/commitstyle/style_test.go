package commitstyle

import (
	"errors"
	"strings"
	"testing"
)

func TestNamesAreSafe(t *testing.T) {
	for in, want := range map[string]string{
		"alice":                        "alice",
		"system:serviceaccount:ns:bot": "system.serviceaccount.ns.bot",
		"oidc:alice@example.com":       "oidc.alice.example.com",
		"a b<c>\n":                     "a_bc",
		"..x..":                        "x",
	} {
		if got := SafeUser(in); got != want {
			t.Errorf("SafeUser(%q) = %q, want %q", in, got, want)
		}
	}
	if got := Clean("bob\nKubernetes-User: alice <a@b>"); strings.ContainsAny(got, "\n<>") {
		t.Errorf("Clean kept %q", got)
	}
	if got := Clean(strings.Repeat("x", 1000)); len(got) != 256 {
		t.Errorf("Clean kept %d bytes", len(got))
	}
}

func TestNewData(t *testing.T) {
	d := NewData(Author{User: "a:b", Impersonator: "i"}, true, []Line{
		{Verb: "create", Target: "ns/t", Reported: "apply"}, {Verb: "update", Target: "ns/u"}, {Verb: "update", Target: "ns/t", Reported: "apply"},
	})
	if d.SafeUser != "a.b" || d.Verbs != "apply, update" || strings.Join(d.Targets, " ") != "ns/t ns/u" || !d.FieldManager || d.Impersonator != "i" {
		t.Errorf("%+v", d)
	}
}

func TestStyle(t *testing.T) {
	s, err := ParseStyle("", "", "")
	if err != nil {
		t.Fatal(err)
	}
	lines := []Line{{Verb: "create", Path: "v1/configmaps/ns/a.yaml", Target: "ns/t", Reported: "apply"}, {Verb: "update", Path: "v1/configmaps/ns/b.yaml", Target: "ns/t", Reported: "patch"}}
	msg, name, email := s.Render(NewData(Author{User: "system:serviceaccount:ns:bot", Impersonator: "admin"}, false, lines))
	wantMsg := "2 changes by system:serviceaccount:ns:bot\n\ncreate v1/configmaps/ns/a.yaml\nupdate v1/configmaps/ns/b.yaml\n\n" +
		"Kubernetes-User: system:serviceaccount:ns:bot\nKubernetes-Verb: apply, patch\nKubernetes-Impersonator: admin\n"
	if msg != wantMsg || name != "system:serviceaccount:ns:bot" || email != "system.serviceaccount.ns.bot@kubernetes.invalid" {
		t.Errorf("got\n%q\n%q %q", msg, name, email)
	}
	msg, _, _ = s.Render(NewData(Author{User: "kubectl-create"}, true, lines[:1]))
	if !strings.HasPrefix(msg, "create v1/configmaps/ns/a.yaml by kubectl-create\n") || !strings.HasSuffix(msg, "Kubernetes-Attribution: field-manager\n") ||
		!strings.Contains(msg, "\nKubernetes-Field-Manager: kubectl-create\n") || strings.Contains(msg, "Kubernetes-User:") {
		// A field manager is the writer's choice: never presented as the user.
		t.Errorf("field manager commit:\n%s", msg)
	}
	msg, _, _ = s.Render(NewData(Author{User: "alice"}, false, lines), "Replica: r1")
	if !strings.HasSuffix(msg, "\n\nKubernetes-User: alice\nKubernetes-Verb: apply, patch\nReplica: r1\n") {
		t.Errorf("extra trailers:\n%s", msg)
	}

	custom, err := ParseStyle("{{.User}} (k8s)", "{{.SafeUser}}@corp.example", "[{{range $i, $t := .Targets}}{{$t}}{{end}}] {{.Verbs}}")
	if err != nil {
		t.Fatal(err)
	}
	msg, name, email = custom.Render(NewData(Author{User: "alice"}, false, lines))
	if !strings.HasPrefix(msg, "[ns/t] apply, patch\n\nKubernetes-User: alice\n") || name != "alice (k8s)" || email != "alice@corp.example" {
		t.Errorf("custom: %q %q %q", msg, name, email)
	}
	// A template that renders nothing keeps a useful message.
	empty, err := ParseStyle("", "", "{{if .FieldManager}}x{{end}}")
	if err != nil {
		t.Fatal(err)
	}
	if msg, _, _ := empty.Render(NewData(Author{User: "alice"}, false, lines)); !strings.HasPrefix(msg, "2 changes by alice\n") {
		t.Errorf("empty message: %q", msg)
	}
	for _, bad := range [][3]string{{"{{.User", "", ""}, {"", "{{.Nope}}", ""}, {"", "", "{{index .Changes 5}}"}} {
		_, err := ParseStyle(bad[0], bad[1], bad[2])
		var te *TemplateError
		if err == nil || !errors.As(err, &te) {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

// TestReasonableTemplates: templates a tenant may well write pass admission
// and render as text/template renders them.
func TestReasonableTemplates(t *testing.T) {
	d := NewData(Author{User: "alice", Verb: "update"}, true, []Line{
		{Verb: "create", Path: "v1/configmaps/ns/a.yaml", Target: "ns/t", Reported: "apply"},
		{Verb: "delete", Path: "v1/configmaps/ns/b.yaml", Target: "ns/u"},
	})
	for _, tc := range []struct{ src, want string }{
		{"{{.User}}", "alice"},
		{`{{printf "%-8s|" .User}}`, "alice   |"},
		{`{{printf "%s changed %d files" .User (len .Changes)}}`, "alice changed 2 files"},
		{`{{if .FieldManager}}by field manager {{end}}{{.User}}`, "by field manager alice"},
		{"{{len .Changes}}", "2"},
		{"{{index .Changes 0}}", "{create v1/configmaps/ns/a.yaml ns/t apply}"},
		{"{{with index .Changes 1}}{{.Verb}} {{.Path}}{{end}}", "delete v1/configmaps/ns/b.yaml"},
		{"{{with .Impersonator}}via {{.}}{{else}}direct{{end}}", "direct"},
		{"{{range .Changes}}{{.Verb}} {{.Path}}\n{{end}}", "create v1/configmaps/ns/a.yaml\ndelete v1/configmaps/ns/b.yaml\n"},
		{"{{range $i, $c := $.Changes}}{{if $i}}, {{end}}{{$c.Path}}{{else}}none{{end}}", "v1/configmaps/ns/a.yaml, v1/configmaps/ns/b.yaml"},
		{`{{range .Changes}}{{if eq .Verb "delete"}}{{break}}{{end}}{{.Path}}{{end}}`, "v1/configmaps/ns/a.yaml"},
		{"{{range .Targets}}[{{.}}]{{end}} {{.Verbs}}", "[ns/t][ns/u] apply, delete"},
		{`{{print .User " " .Verbs}}`, "alice apply, delete"},
		{`{{html "<b>"}} {{urlquery "a b"}} {{js "'"}}`, `&lt;b&gt; a+b \'`},
		{`{{printf "%q %x %5.2f %[1]s" .User 255 3.14159}}`, `"alice" ff  3.14 alice`},
		{`{{$n := 0}}{{range .Changes}}{{$n = len .Path}}{{end}}{{$n}} {{slice .User 1 3}}`, "23 li"},
		{"{{/* a comment */}}{{- .User -}}", "alice"},
	} {
		s, err := ParseStyle("", "", tc.src)
		if err != nil {
			t.Errorf("%s: refused: %v", tc.src, err)
			continue
		}
		if got, err := s.message.run(d); err != nil || got != tc.want {
			t.Errorf("%s: got %q, %v; want %q", tc.src, got, err, tc.want)
		}
	}
}
