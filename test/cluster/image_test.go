//go:build cluster

package cluster

import (
	"archive/tar"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestImagesReproducible builds the images again, from scratch into another
// directory, and wants the digests `make image` printed: an image is a
// function of the commit and the tools, not of the time or the machine's
// state. It also wants the bundled etcd image at the version the tests run
// (bin/etcd) and the chart's default tag equal to it.
func TestImagesReproducible(t *testing.T) {
	root := repoRoot(t)
	first, err := os.ReadFile(filepath.Join(root, "_output", "images", "digests"))
	if err != nil {
		t.Fatalf("no images: run `make image` first (%v)", err)
	}
	out := t.TempDir()
	cmd := exec.Command(filepath.Join(root, "hack", "image.sh"))
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "IMAGE_OUT="+out)
	b, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("hack/image.sh: %v\n%s", err, b)
	}
	second, err := os.ReadFile(filepath.Join(out, "digests"))
	if err != nil {
		t.Fatal(err)
	}
	a, c := digestsByRef(string(first)), digestsByRef(string(second))
	if len(a) != 3 {
		t.Fatalf("make image made %d images, want 3:\n%s", len(a), first)
	}
	for ref, d := range a {
		if c[ref] != d {
			t.Errorf("%s: %s by make image, %s rebuilt", ref, d, c[ref])
		} else {
			t.Logf("%s@%s: same digest twice", ref, d)
		}
	}
	etcd, err := os.ReadFile(filepath.Join(root, "bin", ".etcd.version"))
	if err != nil {
		t.Fatal(err)
	}
	version := strings.TrimSpace(string(etcd))
	if _, ok := a["ghcr.io/configbutler/gitops-reverser-etcd:"+version]; !ok {
		t.Errorf("no etcd image at the tested version %s: %v", version, a)
	}
	for _, f := range []string{"gitops-reverser-apiserver.tar", "etcd.tar"} {
		if got := platformsOf(t, filepath.Join(root, "_output", "images", f)); strings.Join(got, ",") != "linux/amd64,linux/arm64" {
			t.Errorf("%s holds %v, want linux/amd64 and linux/arm64", f, got)
		}
	}
	values, _ := os.ReadFile(filepath.Join(root, "charts", "gitops-reverser", "values.yaml"))
	if !strings.Contains(string(values), "tag: "+version) {
		t.Errorf("charts/gitops-reverser/values.yaml does not default the bundled etcd to %s", version)
	}
}

// platformsOf reads an OCI layout tarball whose index.json names an image
// index, and returns the platforms that index holds (os/arch, in order).
func platformsOf(t *testing.T, tarball string) []string {
	t.Helper()
	f, err := os.Open(tarball)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	files := map[string][]byte{}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if b, err := io.ReadAll(tr); err == nil {
			files[h.Name] = b
		}
	}
	type index struct {
		MediaType string `json:"mediaType"`
		Manifests []struct {
			MediaType string `json:"mediaType"`
			Digest    string `json:"digest"`
			Platform  *struct {
				OS           string `json:"os"`
				Architecture string `json:"architecture"`
			} `json:"platform"`
		} `json:"manifests"`
	}
	var outer, inner index
	if err := json.Unmarshal(files["index.json"], &outer); err != nil || len(outer.Manifests) != 1 {
		t.Fatalf("%s: index.json %s (%v)", tarball, files["index.json"], err)
	}
	if outer.Manifests[0].MediaType != "application/vnd.oci.image.index.v1+json" {
		return nil // one platform's manifest
	}
	if err := json.Unmarshal(files["blobs/sha256/"+strings.TrimPrefix(outer.Manifests[0].Digest, "sha256:")], &inner); err != nil {
		t.Fatalf("%s: the image index: %v", tarball, err)
	}
	var out []string
	for _, m := range inner.Manifests {
		if m.Platform != nil {
			out = append(out, m.Platform.OS+"/"+m.Platform.Architecture)
		}
	}
	return out
}

func digestsByRef(s string) map[string]string {
	m := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(s), "\n") {
		if f := strings.Fields(l); len(f) == 3 {
			m[f[0]] = f[1]
		}
	}
	return m
}
