package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func writeFixture(t *testing.T, dir, content string) string {
	t.Helper()
	p := filepath.Join(dir, "bin")
	if err := os.WriteFile(p, []byte(content), 0o700); err != nil {
		t.Fatal(err)
	}
	return p
}

// Two builds of the same inputs, at different times and from differently
// stamped files, give the same bytes; a different binary a different digest.
func TestReproducible(t *testing.T) {
	dir := t.TempDir()
	o := Options{Binary: writeFixture(t, dir, "#!binary v1"), Path: "/usr/local/bin/x", Ref: "example.com/x:v1", User: "65532:65532", Arch: "amd64", Epoch: time.Unix(0, 0).UTC(), Args: []string{"--a"}}
	d1, err := WriteFile(filepath.Join(dir, "1.tar"), o)
	if err != nil {
		t.Fatal(err)
	}
	// The source file's time and mode must not leak into the image.
	if err := os.Chtimes(o.Binary, time.Now(), time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	os.Chmod(o.Binary, 0o755)
	d2, err := WriteFile(filepath.Join(dir, "2.tar"), o)
	if err != nil {
		t.Fatal(err)
	}
	b1, _ := os.ReadFile(filepath.Join(dir, "1.tar"))
	b2, _ := os.ReadFile(filepath.Join(dir, "2.tar"))
	if d1 != d2 || !bytes.Equal(b1, b2) {
		t.Fatalf("same inputs, different images: %s vs %s (bytes equal: %v)", d1, d2, bytes.Equal(b1, b2))
	}
	o.Binary = writeFixture(t, t.TempDir(), "#!binary v2")
	d3, err := WriteFile(filepath.Join(dir, "3.tar"), o)
	if err != nil {
		t.Fatal(err)
	}
	if d3 == d1 {
		t.Fatalf("a different binary gave the same digest %s", d1)
	}
	o.Epoch = time.Unix(1700000000, 0)
	if d4, _ := WriteFile(filepath.Join(dir, "4.tar"), o); d4 == d3 {
		t.Fatalf("a different epoch gave the same digest %s", d3)
	}
}

// The tarball is a valid OCI layout: the index names the reference and the
// manifest, the manifest the config and layer by digest, and the layer holds the
// binary with the mode and owner we chose.
func TestLayout(t *testing.T) {
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.crt")
	os.WriteFile(ca, []byte("CA"), 0o600)
	o := Options{Binary: writeFixture(t, dir, "payload"), Path: "/usr/local/bin/srv", Ref: "ghcr.io/o/srv:v0.1.0", User: "65532:65532", CACerts: ca, Arch: "arm64", Epoch: time.Unix(0, 0).UTC(), Args: []string{"--x=1"}}
	out := filepath.Join(dir, "img.tar")
	digest, err := WriteFile(out, o)
	if err != nil {
		t.Fatal(err)
	}
	files := readTar(t, mustOpen(t, out))
	var index struct {
		Manifests []struct {
			MediaType   string            `json:"mediaType"`
			Digest      string            `json:"digest"`
			Annotations map[string]string `json:"annotations"`
		} `json:"manifests"`
	}
	mustJSON(t, files["index.json"], &index)
	if len(index.Manifests) != 1 || index.Manifests[0].Digest != digest ||
		index.Manifests[0].Annotations["io.containerd.image.name"] != o.Ref ||
		index.Manifests[0].Annotations["org.opencontainers.image.ref.name"] != "v0.1.0" ||
		index.Manifests[0].MediaType != "application/vnd.oci.image.manifest.v1+json" {
		t.Fatalf("index.json: %s", files["index.json"])
	}
	if string(files["oci-layout"]) != `{"imageLayoutVersion":"1.0.0"}` {
		t.Fatalf("oci-layout: %s", files["oci-layout"])
	}
	var manifest struct {
		Config struct{ Digest string } `json:"config"`
		Layers []struct{ Digest, MediaType string }
	}
	mustJSON(t, blob(t, files, digest), &manifest)
	if len(manifest.Layers) != 1 || manifest.Layers[0].MediaType != "application/vnd.oci.image.layer.v1.tar+gzip" {
		t.Fatalf("manifest layers: %+v", manifest.Layers)
	}
	var config struct {
		Architecture, OS string
		Created          time.Time
		Config           struct {
			Entrypoint, Cmd []string
			User            string
		} `json:"config"`
	}
	mustJSON(t, blob(t, files, manifest.Config.Digest), &config)
	if config.Architecture != "arm64" || config.OS != "linux" || !config.Created.Equal(time.Unix(0, 0)) ||
		len(config.Config.Entrypoint) != 1 || config.Config.Entrypoint[0] != o.Path ||
		len(config.Config.Cmd) != 1 || config.Config.Cmd[0] != "--x=1" || config.Config.User != "65532:65532" {
		t.Fatalf("config: %+v", config)
	}
	zr, err := gzip.NewReader(bytes.NewReader(blob(t, files, manifest.Layers[0].Digest)))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	got := map[string]*tar.Header{}
	var content []byte
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got[h.Name] = h
		if h.Name == "usr/local/bin/srv" {
			content, _ = io.ReadAll(tr)
		}
	}
	want := map[string]int64{"usr/": 0o755, "usr/local/": 0o755, "usr/local/bin/": 0o755, "usr/local/bin/srv": 0o755, "tmp/": 0o1777, "etc/": 0o755, "etc/ssl/": 0o755, "etc/ssl/certs/": 0o755, "etc/ssl/certs/ca-certificates.crt": 0o644}
	for name, mode := range want {
		h := got[name]
		if h == nil {
			t.Errorf("layer lacks %s (has %v)", name, keys(got))
			continue
		}
		if h.Mode != mode || h.Uid != 0 || h.Gid != 0 || h.Uname != "" || !h.ModTime.Equal(time.Unix(0, 0)) {
			t.Errorf("%s: mode %o uid %d gid %d uname %q time %v", name, h.Mode, h.Uid, h.Gid, h.Uname, h.ModTime)
		}
	}
	if len(got) != len(want) {
		t.Errorf("layer has %v, want exactly %d entries", keys(got), len(want))
	}
	if string(content) != "payload" {
		t.Errorf("binary content %q", content)
	}
}

func TestRejectsRelativePath(t *testing.T) {
	dir := t.TempDir()
	if _, err := WriteFile(filepath.Join(dir, "x.tar"), Options{Binary: writeFixture(t, dir, "x"), Path: "usr/bin/../x", Ref: "x:v1"}); err == nil {
		t.Fatal("a relative path was accepted")
	}
	if _, err := os.Stat(filepath.Join(dir, "x.tar")); !os.IsNotExist(err) {
		t.Fatalf("a failed build left %s behind", "x.tar")
	}
}

func mustOpen(t *testing.T, p string) io.Reader {
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.NewReader(b)
}

func readTar(t *testing.T, r io.Reader) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		out[h.Name] = b
	}
}

func blob(t *testing.T, files map[string][]byte, digest string) []byte {
	t.Helper()
	b, ok := files["blobs/sha256/"+digest[len("sha256:"):]]
	if !ok {
		t.Fatalf("no blob %s", digest)
	}
	return b
}

func mustJSON(t *testing.T, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
}

func keys(m map[string]*tar.Header) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
