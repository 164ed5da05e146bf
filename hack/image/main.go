// Command image builds the container images we ship without Docker: one static
// binary (plus, optionally, the CA bundle) in a one-layer OCI image, written as
// an OCI image-layout tarball that `ctr images import` and `docker load` read.
//
// Why this way: no Docker engine or registry is reachable where we build and
// test, and a one-layer image of a static binary needs no base image at all.
// go-containerregistry computes the digests; we only choose the bytes.
//
// Reproducible: the same inputs give the same bytes, so the same digest. Every
// tar header has uid/gid 0, no user/group names, a fixed mode and the
// -epoch (SOURCE_DATE_EPOCH, default 0) as its time; entries are written in
// sorted order; the config's and history's created times are the epoch; the
// layer is gzip-compressed by one library at one level.
//
// Usage:
//
//	image -binary bin/x -path /usr/local/bin/x -ref ghcr.io/o/x:v1 -out x.tar
//	      [-user 65532:65532] [-ca-certs /etc/ssl/certs/ca-certificates.crt] [-- args...]
//	image -platform amd64=out/amd64/x -platform arm64=out/arm64/x -path ... -ref ... -out ...
//
// With -platform (repeated, arch=binary) it writes a multi-platform image:
// an OCI image index of one image per architecture (index.go).
//
// It prints "<ref> <digest> <out>": the manifest's, or the index's.
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"
)

func main() {
	var o Options
	var epoch string
	flag.StringVar(&o.Binary, "binary", "", "the static binary to put in the image")
	flag.StringVar(&o.Path, "path", "", "its path in the image (also the entrypoint)")
	flag.StringVar(&o.Ref, "ref", "", "the image reference, repository:tag")
	flag.StringVar(&o.User, "user", "65532:65532", "the user the image runs as (uid:gid); empty for root")
	flag.StringVar(&o.CACerts, "ca-certs", "", "a CA bundle to install as /etc/ssl/certs/ca-certificates.crt (for HTTPS remotes)")
	flag.StringVar(&o.Arch, "arch", runtime.GOARCH, "the image architecture")
	flag.StringVar(&epoch, "epoch", os.Getenv("SOURCE_DATE_EPOCH"), "the time of every file and of the image, in Unix seconds (default 0)")
	out := flag.String("out", "", "the OCI layout tarball to write")
	platforms := map[string]string{}
	flag.Func("platform", "arch=binary: one platform of a multi-platform image (repeated)", func(v string) error {
		arch, bin, ok := strings.Cut(v, "=")
		if !ok || arch == "" || bin == "" {
			return fmt.Errorf("want arch=binary, got %q", v)
		}
		platforms[arch] = bin
		return nil
	})
	flag.Parse()
	o.Args = flag.Args()
	if epoch != "" {
		s, err := strconv.ParseInt(epoch, 10, 64)
		if err != nil {
			fail(fmt.Errorf("-epoch %q: %v", epoch, err))
		}
		o.Epoch = time.Unix(s, 0).UTC()
	} else {
		o.Epoch = time.Unix(0, 0).UTC()
	}
	if (o.Binary == "") == (len(platforms) == 0) || o.Path == "" || o.Ref == "" || *out == "" {
		fail(fmt.Errorf("-binary or -platform (not both), -path, -ref and -out are required"))
	}
	write := func() (string, error) { return WriteFile(*out, o) }
	if len(platforms) > 0 {
		write = func() (string, error) { return WriteIndexFile(*out, o, platforms) }
	}
	digest, err := write()
	if err != nil {
		fail(err)
	}
	fmt.Println(strings.Join([]string{o.Ref, digest, *out}, " "))
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "image:", err)
	os.Exit(1)
}
