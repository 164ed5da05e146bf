package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestIndexLayout: a multi-platform image is a layout whose index.json names
// one OCI index (by the whole reference), which holds one manifest per
// architecture with its platform; each manifest's config and layers are in
// the layout, and its config names its architecture. Two builds give the
// same bytes; another arm64 binary another index digest.
func TestIndexLayout(t *testing.T) {
	dir := t.TempDir()
	amd := writeFixture(t, t.TempDir(), "#!amd64 binary")
	arm := writeFixture(t, t.TempDir(), "#!arm64 binary")
	o := Options{Path: "/usr/local/bin/x", Ref: "example.com/x:v1", User: "65532:65532", Epoch: time.Unix(0, 0).UTC()}
	platforms := map[string]string{"arm64": arm, "amd64": amd}
	d1, err := WriteIndexFile(filepath.Join(dir, "1.tar"), o, platforms)
	if err != nil {
		t.Fatal(err)
	}
	files := readTar(t, mustOpen(t, filepath.Join(dir, "1.tar")))
	var outer struct {
		Manifests []struct {
			MediaType   string            `json:"mediaType"`
			Digest      string            `json:"digest"`
			Annotations map[string]string `json:"annotations"`
		} `json:"manifests"`
	}
	mustJSON(t, files["index.json"], &outer)
	if len(outer.Manifests) != 1 || outer.Manifests[0].MediaType != "application/vnd.oci.image.index.v1+json" ||
		outer.Manifests[0].Digest != d1 || outer.Manifests[0].Annotations["io.containerd.image.name"] != "example.com/x:v1" {
		t.Fatalf("index.json: %s", files["index.json"])
	}
	var inner struct {
		Manifests []struct {
			Digest   string `json:"digest"`
			Platform struct {
				OS           string `json:"os"`
				Architecture string `json:"architecture"`
			} `json:"platform"`
		} `json:"manifests"`
	}
	mustJSON(t, blob(t, files, d1), &inner)
	if len(inner.Manifests) != 2 {
		t.Fatalf("inner index: %s", blob(t, files, d1))
	}
	for i, want := range []string{"amd64", "arm64"} {
		m := inner.Manifests[i]
		if m.Platform.OS != "linux" || m.Platform.Architecture != want {
			t.Errorf("manifest %d: platform %+v, want linux/%s", i, m.Platform, want)
		}
		var manifest struct {
			Config struct{ Digest string }   `json:"config"`
			Layers []struct{ Digest string } `json:"layers"`
		}
		mustJSON(t, blob(t, files, m.Digest), &manifest)
		var cfg struct{ Architecture string }
		mustJSON(t, blob(t, files, manifest.Config.Digest), &cfg)
		if cfg.Architecture != want || len(manifest.Layers) != 1 {
			t.Errorf("%s: config architecture %q, %d layers", want, cfg.Architecture, len(manifest.Layers))
		}
		blob(t, files, manifest.Layers[0].Digest)
	}

	d2, err := WriteIndexFile(filepath.Join(dir, "2.tar"), o, platforms)
	if err != nil {
		t.Fatal(err)
	}
	b1, _ := os.ReadFile(filepath.Join(dir, "1.tar"))
	b2, _ := os.ReadFile(filepath.Join(dir, "2.tar"))
	if d1 != d2 || !bytes.Equal(b1, b2) {
		t.Fatalf("same inputs, different indexes: %s vs %s", d1, d2)
	}
	platforms["arm64"] = writeFixture(t, t.TempDir(), "#!another arm64 binary")
	if d3, _ := WriteIndexFile(filepath.Join(dir, "3.tar"), o, platforms); d3 == d1 {
		t.Errorf("another arm64 binary gave the same index %s", d1)
	}
}
