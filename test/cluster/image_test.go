//go:build cluster

package cluster

import (
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
	values, _ := os.ReadFile(filepath.Join(root, "charts", "gitops-reverser", "values.yaml"))
	if !strings.Contains(string(values), "tag: "+version) {
		t.Errorf("charts/gitops-reverser/values.yaml does not default the bundled etcd to %s", version)
	}
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
