package render

import (
	"os"
	"strings"
	"testing"

	goyaml "go.yaml.in/yaml/v2"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/configbutler/gitops-reverser/pkg/yamlemit"
)

// TestEmitWritesManifests: the golden Deployment and ConfigMaps with values
// folded and in literal blocks are written by pkg/yamlemit, as go-yaml
// writes them; the Widget (UTF-8) is left to go-yaml.
func TestEmitWritesManifests(t *testing.T) {
	var objs []*unstructured.Unstructured
	for _, f := range []string{"testdata/deployment.input.yaml", "testdata/widget.input.yaml"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		u := &unstructured.Unstructured{}
		if err := yaml.Unmarshal(b, &u.Object); err != nil {
			t.Fatal(err)
		}
		objs = append(objs, u)
	}
	objs = append(objs, &unstructured.Unstructured{Object: map[string]interface{}{
		"apiVersion": "v1", "kind": "ConfigMap",
		"metadata": map[string]interface{}{"name": "cm-00001", "namespace": "bench", "labels": map[string]interface{}{"app": "x", "n": "1"}},
		"data":     map[string]interface{}{"payload": strings.Repeat("object 1 version 0 ", 54)[:1024], "seq": "0", "list": []interface{}{"a b " + strings.Repeat("c", 100), int64(3), map[string]interface{}{}}},
	}}, &unstructured.Unstructured{Object: map[string]interface{}{
		"apiVersion": "v1", "kind": "ConfigMap",
		"metadata": map[string]interface{}{"name": "kube-root-ca.crt", "namespace": "default"},
		"data": map[string]interface{}{
			"ca.crt":     "-----BEGIN CERTIFICATE-----\nMIIC/jCCAeagAwIBAgIBADANBgkqhkiG9w0BAQsFADAVMRMwEQYDVQQDEwprdWJl\n-----END CERTIFICATE-----\n",
			"nginx.conf": "server {\n  listen 80;\n\n  location / {\n    root /usr/share/nginx/html;\n  }\n}",
			"script.sh":  "#!/bin/sh\nset -e\necho 'done: #1'\n",
		},
		"spec": map[string]interface{}{"list": []interface{}{"one\ntwo\n", []interface{}{"x\n\ny"}}},
	}})
	for _, u := range objs {
		m := ordered(defaultCleaner.clean(u.Object, "", u.GetKind()), true).(goyaml.MapSlice)
		b, ok := yamlemit.Emit(m)
		want, err := goyaml.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		if ok && string(b) != string(want) {
			t.Errorf("%s %s: emitted\n%s\ngo-yaml writes\n%s", u.GetKind(), u.GetName(), b, want)
		}
		if written := u.GetKind() != "Widget"; ok != written {
			t.Errorf("%s %s: written by the emitter %v, want %v", u.GetKind(), u.GetName(), ok, written)
		}
	}
}
