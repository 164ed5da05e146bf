package main

import (
	"archive/tar"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// A multi-platform image is an OCI image index of one image per
// architecture, each built as Build builds one. The layout's index.json names
// that inner index (nested, as BuildKit's OCI exporter writes it): containerd
// makes one image record per named entry of index.json, so naming each
// platform's manifest there would keep only the last; and each inner entry
// carries its platform, which is how containerd and kubelet pick the node's.

// BuildIndex builds one image per architecture of binaries (arch -> the
// binary built for it) and indexes them, in architecture order.
func BuildIndex(o Options, binaries map[string]string) (v1.ImageIndex, error) {
	if len(binaries) == 0 {
		return nil, fmt.Errorf("no platforms")
	}
	archs := make([]string, 0, len(binaries))
	for a := range binaries {
		archs = append(archs, a)
	}
	sort.Strings(archs)
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	for _, a := range archs {
		po := o
		po.Binary, po.Arch = binaries[a], a
		img, err := Build(po)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", a, err)
		}
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{
			Add:        img,
			Descriptor: v1.Descriptor{MediaType: types.OCIManifestSchema1, Platform: &v1.Platform{OS: "linux", Architecture: a}},
		})
	}
	return idx, nil
}

// WriteIndexFile builds the index and writes it as an OCI image-layout
// tarball, returning the index digest.
func WriteIndexFile(out string, o Options, binaries map[string]string) (string, error) {
	idx, err := BuildIndex(o, binaries)
	if err != nil {
		return "", err
	}
	if err := writeTarball(out, func(w io.Writer) error { return WriteIndexLayout(w, idx, o.Ref, o.Epoch) }); err != nil {
		return "", err
	}
	d, err := idx.Digest()
	return d.String(), err
}

// WriteIndexLayout writes idx as an OCI image layout whose index.json names
// it (by ref, as WriteLayout names an image), with the blobs of every image
// it holds.
func WriteIndexLayout(w io.Writer, idx v1.ImageIndex, ref string, epoch time.Time) error {
	raw, err := idx.RawManifest()
	if err != nil {
		return err
	}
	digest, err := idx.Digest()
	if err != nil {
		return err
	}
	indexJSON, err := json.Marshal(outerIndex(types.OCIImageIndex, digest.String(), len(raw), ref))
	if err != nil {
		return err
	}
	blobs := map[string][]byte{"blobs/sha256/" + digest.Hex: raw}
	im, err := idx.IndexManifest()
	if err != nil {
		return err
	}
	for _, desc := range im.Manifests {
		img, err := idx.Image(desc.Digest)
		if err != nil {
			return err
		}
		if err := imageBlobs(img, blobs); err != nil {
			return err
		}
	}
	return writeLayoutTar(w, indexJSON, blobs, epoch)
}

// outerIndex is a layout's index.json naming one manifest or index: the OCI
// annotation holds the tag, containerd's the whole reference, which is the
// name `ctr images import` gives it.
func outerIndex(mediaType types.MediaType, digest string, size int, ref string) map[string]any {
	tag := ref
	if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
		tag = ref[i+1:]
	}
	return map[string]any{
		"schemaVersion": 2,
		"mediaType":     types.OCIImageIndex,
		"manifests": []any{map[string]any{
			"mediaType": mediaType,
			"digest":    digest,
			"size":      size,
			"annotations": map[string]string{
				"io.containerd.image.name":          ref,
				"org.opencontainers.image.ref.name": tag,
			},
		}},
	}
}

// imageBlobs adds an image's manifest, config and layers to blobs.
func imageBlobs(img v1.Image, blobs map[string][]byte) error {
	manifest, err := img.RawManifest()
	if err != nil {
		return err
	}
	digest, err := img.Digest()
	if err != nil {
		return err
	}
	blobs["blobs/sha256/"+digest.Hex] = manifest
	config, err := img.RawConfigFile()
	if err != nil {
		return err
	}
	configName, err := img.ConfigName()
	if err != nil {
		return err
	}
	blobs["blobs/sha256/"+configName.Hex] = config
	layers, err := img.Layers()
	if err != nil {
		return err
	}
	for _, l := range layers {
		d, err := l.Digest()
		if err != nil {
			return err
		}
		rc, err := l.Compressed()
		if err != nil {
			return err
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			return err
		}
		blobs["blobs/sha256/"+d.Hex] = b
	}
	return nil
}

// writeLayoutTar writes a layout's files in a tar stream, sorted, every
// header stamped with epoch.
func writeLayoutTar(w io.Writer, indexJSON []byte, blobs map[string][]byte, epoch time.Time) error {
	entries := []file{
		{name: "blobs", mode: 0o755},
		{name: "blobs/sha256", mode: 0o755},
		{name: "index.json", mode: 0o644, data: indexJSON},
		{name: "oci-layout", mode: 0o644, data: []byte(`{"imageLayoutVersion":"1.0.0"}`)},
	}
	names := make([]string, 0, len(blobs))
	for n := range blobs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		entries = append(entries, file{name: n, mode: 0o644, data: blobs[n]})
	}
	tw := tar.NewWriter(w)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Mode: e.mode, ModTime: epoch, Format: tar.FormatPAX, Typeflag: tar.TypeReg, Size: int64(len(e.data))}
		if e.data == nil {
			h.Typeflag, h.Name, h.Size = tar.TypeDir, e.name+"/", 0
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if _, err := tw.Write(e.data); err != nil {
			return err
		}
	}
	return tw.Close()
}
