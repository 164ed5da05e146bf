package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Options is one image: a binary at a path, run as a user.
type Options struct {
	Binary  string    // the file on this machine
	Path    string    // where it goes in the image; the entrypoint
	Args    []string  // the image's default arguments (Cmd)
	Ref     string    // repository:tag, recorded in the layout's index
	User    string    // uid:gid, or empty for root
	CACerts string    // optional CA bundle file
	Arch    string    // GOARCH
	Epoch   time.Time // every timestamp
}

// file is one entry of the layer.
type file struct {
	name string // absolute path in the image
	mode int64
	data []byte // nil for a directory
}

// Build assembles the image.
func Build(o Options) (v1.Image, error) {
	if !path.IsAbs(o.Path) || path.Clean(o.Path) != o.Path {
		return nil, fmt.Errorf("-path %q: want a clean absolute path", o.Path)
	}
	bin, err := os.ReadFile(o.Binary)
	if err != nil {
		return nil, err
	}
	files := []file{
		{name: o.Path, mode: 0o755, data: bin},
		// Writable scratch for anything that expects one; the chart mounts an
		// emptyDir over it when the root filesystem is read-only.
		{name: "/tmp", mode: 0o1777},
	}
	if o.CACerts != "" {
		ca, err := os.ReadFile(o.CACerts)
		if err != nil {
			return nil, err
		}
		files = append(files, file{name: "/etc/ssl/certs/ca-certificates.crt", mode: 0o644, data: ca})
	}
	layerTar, err := tarLayer(files, o.Epoch)
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	}, tarball.WithCompressionLevel(gzip.BestCompression), tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, err
	}

	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	created := v1.Time{Time: o.Epoch}
	img, err = mutate.Append(img, mutate.Addendum{
		Layer:     layer,
		MediaType: types.OCILayer,
		History:   v1.History{Created: created, CreatedBy: "hack/image " + path.Base(o.Path), Comment: "one static binary"},
	})
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.Architecture = o.Arch
	cf.OS = "linux"
	cf.Created = created
	cf.Config = v1.Config{
		Entrypoint: []string{o.Path},
		Cmd:        o.Args,
		User:       o.User,
		Env:        []string{"PATH=/usr/local/bin:/usr/bin:/bin"},
		WorkingDir: "/",
		Labels:     map[string]string{"org.opencontainers.image.source": "https://github.com/configbutler/gitops-reverser"},
	}
	return mutate.ConfigFile(img, cf)
}

// tarLayer writes files, and every directory above them, sorted by name.
func tarLayer(files []file, epoch time.Time) ([]byte, error) {
	all := map[string]file{}
	for _, f := range files {
		all[f.name] = f
		for d := path.Dir(f.name); d != "/"; d = path.Dir(d) {
			if _, ok := all[d]; !ok {
				all[d] = file{name: d, mode: 0o755}
			}
		}
	}
	names := make([]string, 0, len(all))
	for n := range all {
		names = append(names, n)
	}
	sort.Strings(names)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, n := range names {
		f := all[n]
		h := &tar.Header{
			Name:    strings.TrimPrefix(n, "/"),
			Mode:    f.mode,
			ModTime: epoch,
			Format:  tar.FormatPAX,
		}
		if f.data == nil {
			h.Typeflag = tar.TypeDir
			h.Name += "/"
		} else {
			h.Typeflag = tar.TypeReg
			h.Size = int64(len(f.data))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// WriteFile builds the image and writes it as an OCI image-layout tarball,
// returning the manifest digest.
func WriteFile(out string, o Options) (string, error) {
	img, err := Build(o)
	if err != nil {
		return "", err
	}
	if err := writeTarball(out, func(w io.Writer) error { return WriteLayout(w, img, o.Ref, o.Epoch) }); err != nil {
		return "", err
	}
	d, err := img.Digest()
	return d.String(), err
}

// writeTarball writes a layout to out through a temporary file, renamed into
// place once whole: a failed build leaves no half tarball behind.
func writeTarball(out string, write func(io.Writer) error) error {
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	tmp := out + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	if err := write(f); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, out)
}

// WriteLayout writes img as an OCI image layout (oci-layout, index.json,
// blobs/sha256/*) in a tar stream, index.json naming it by ref.
func WriteLayout(w io.Writer, img v1.Image, ref string, epoch time.Time) error {
	manifest, err := img.RawManifest()
	if err != nil {
		return err
	}
	digest, err := img.Digest()
	if err != nil {
		return err
	}
	mt, err := img.MediaType()
	if err != nil {
		return err
	}
	indexJSON, err := json.Marshal(outerIndex(mt, digest.String(), len(manifest), ref))
	if err != nil {
		return err
	}
	blobs := map[string][]byte{}
	if err := imageBlobs(img, blobs); err != nil {
		return err
	}
	return writeLayoutTar(w, indexJSON, blobs, epoch)
}
