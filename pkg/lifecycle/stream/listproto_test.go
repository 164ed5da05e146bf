package stream

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/encoding/protowire"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer/json"
	"k8s.io/apimachinery/pkg/runtime/serializer/protobuf"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/randfill"

	"github.com/configbutler/gitops-reverser/pkg/render"
)

var (
	protoCodec = protobuf.NewSerializer(scheme.Scheme, scheme.Scheme)
	jsonCodec  = json.NewSerializerWithOptions(json.DefaultMetaFactory, scheme.Scheme, scheme.Scheme, json.SerializerOptions{})
)

// served encodes a list as kube-apiserver would send it in both encodings.
// kube-apiserver keeps objects as protobuf in etcd: what it encodes has
// been through a protobuf round trip (a nil map value comes back empty), in
// either encoding.
func served(t testing.TB, list runtime.Object) (pb, js []byte) {
	t.Helper()
	encode := func(c runtime.Encoder, obj runtime.Object) []byte {
		var b bytes.Buffer
		if err := c.Encode(obj, &b); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}
	stored, _, err := protoCodec.Decode(encode(protoCodec, list), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return encode(protoCodec, stored), encode(jsonCodec, stored)
}

// filler fills objects at random: every field, valid times, and
// managedFields whose fieldsV1 is JSON (kube-apiserver writes it so).
func filler(seed int64) *randfill.Filler {
	return randfill.NewWithSeed(seed).NilChance(0.3).NumElements(0, 3).Funcs(
		func(e *metav1.ManagedFieldsEntry, c randfill.Continue) {
			c.FillNoCustom(e)
			if e.FieldsV1 != nil {
				e.FieldsV1.Raw = []byte(`{"f:data":{}}`)
			}
		})
}

// TestProtoMapsAreJSON: a page of ConfigMaps or Secrets read as protobuf
// gives, once stripped for the cache as every page is, the same objects as
// the page read as JSON, for randomly filled objects (every field of the
// types, nil and empty collections, binary data). A field a new client-go
// adds that protomap.go does not map fails it, and so does a decoded value
// that points into the page's bytes (overwritten before comparing: the
// buffers pages are read into are reused).
func TestProtoMapsAreJSON(t *testing.T) {
	for seed := int64(0); seed < 300; seed++ {
		f := filler(seed)
		var cms corev1.ConfigMapList
		var secrets corev1.SecretList
		f.Fill(&cms)
		f.Fill(&secrets)
		cms.TypeMeta = metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMapList"}
		secrets.TypeMeta = metav1.TypeMeta{APIVersion: "v1", Kind: "SecretList"}
		for i := range cms.Items {
			cms.Items[i].TypeMeta = metav1.TypeMeta{} // a typed list's items have none
		}
		for i := range secrets.Items {
			secrets.Items[i].TypeMeta = metav1.TypeMeta{}
		}
		for _, tc := range []struct {
			list runtime.Object
			kind string
			item protoItem
		}{
			{&cms, "ConfigMap", configMapItem},
			{&secrets, "Secret", secretItem},
		} {
			pb, js := served(t, tc.list)
			fromJSON, err := decodeList(js)
			if err != nil {
				t.Fatalf("seed %d: JSON: %v", seed, err)
			}
			fromProto, err := decodeProtoList(pb, tc.kind, tc.item)
			if err != nil {
				t.Fatalf("seed %d: protobuf: %v", seed, err)
			}
			// The pages' buffers are reused (pageBuffers): nothing decoded
			// may point into them.
			for _, b := range [][]byte{pb, js} {
				for i := range b {
					b[i] = 0xff
				}
			}
			for name, get := range map[string]func(*unstructured.UnstructuredList) string{
				"resourceVersion": (*unstructured.UnstructuredList).GetResourceVersion,
				"continue":        (*unstructured.UnstructuredList).GetContinue,
				"remainingItemCount": func(l *unstructured.UnstructuredList) string {
					if n := l.GetRemainingItemCount(); n != nil {
						return fmt.Sprint(*n)
					}
					return "none"
				},
			} {
				if a, b := get(fromJSON), get(fromProto); a != b {
					t.Fatalf("seed %d %s list: %s %q from JSON, %q from protobuf", seed, tc.kind, name, a, b)
				}
			}
			if len(fromJSON.Items) != len(fromProto.Items) {
				t.Fatalf("seed %d %s: %d items from JSON, %d from protobuf", seed, tc.kind, len(fromJSON.Items), len(fromProto.Items))
			}
			for i := range fromJSON.Items {
				a, b := &fromJSON.Items[i], &fromProto.Items[i]
				render.StripForCache(a)
				render.StripForCache(b)
				if d := cmp.Diff(a.Object, b.Object); d != "" {
					t.Fatalf("seed %d %s item %d differs (-JSON +protobuf):\n%s", seed, tc.kind, i, d)
				}
			}
		}
	}
}

// TestProtoPageWithUnknownFields: a page holding a field this build does
// not know, in an item, its metadata or the list, is not converted
// (errNotExact: the lister reads it as JSON), so nothing a newer cluster
// serves is lost.
func TestProtoPageWithUnknownFields(t *testing.T) {
	cm := corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "a", Namespace: "ns", ResourceVersion: "7"}, Data: map[string]string{"k": "v"}}
	item, err := cm.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	meta, err := (&metav1.ListMeta{ResourceVersion: "9"}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	unknown := func(b []byte) []byte { // field 99, as a newer schema would add
		b = protowire.AppendTag(append([]byte(nil), b...), 99, protowire.BytesType)
		return protowire.AppendBytes(b, []byte("new"))
	}
	metaWithUnknown := func() []byte { // an unknown field inside the item's metadata
		md, err := cm.ObjectMeta.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		md = unknown(md)
		rest := item[1+len(protowire.AppendVarint(nil, uint64(cm.ObjectMeta.Size())))+cm.ObjectMeta.Size():]
		b := protowire.AppendTag(nil, 1, protowire.BytesType)
		b = protowire.AppendBytes(b, md)
		return append(b, rest...)
	}
	list := func(meta []byte, items [][]byte, extra []byte) []byte {
		var b []byte
		b = protowire.AppendTag(b, 1, protowire.BytesType)
		b = protowire.AppendBytes(b, meta)
		for _, it := range items {
			b = protowire.AppendTag(b, 2, protowire.BytesType)
			b = protowire.AppendBytes(b, it)
		}
		b = append(b, extra...)
		env := runtime.Unknown{TypeMeta: runtime.TypeMeta{APIVersion: "v1", Kind: "ConfigMapList"}, Raw: b, ContentType: "application/vnd.kubernetes.protobuf"}
		e, err := env.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		return append(append([]byte(nil), protobufMagic...), e...)
	}
	extraListField := protowire.AppendBytes(protowire.AppendTag(nil, 3, protowire.BytesType), []byte("x"))
	for _, tc := range []struct {
		name string
		page []byte
		want error
	}{
		{"known fields", list(meta, [][]byte{item, item}, nil), nil},
		{"an item with an unknown field", list(meta, [][]byte{item, unknown(item)}, nil), errNotExact},
		{"an unknown field in an item's metadata", list(meta, [][]byte{metaWithUnknown()}, nil), errNotExact},
		{"list metadata with an unknown field", list(unknown(meta), [][]byte{item}, nil), errNotExact},
		{"an unknown field of the list", list(meta, [][]byte{item}, extraListField), errNotExact},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := decodeProtoList(tc.page, "ConfigMap", configMapItem)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if tc.want == nil && (len(got.Items) != 2 || got.GetResourceVersion() != "9" || got.Items[1].GetName() != "a") {
				t.Fatalf("decoded %d items at %q", len(got.Items), got.GetResourceVersion())
			}
		})
	}
	if _, err := decodeProtoList([]byte(`{"kind":"ConfigMapList"}`), "ConfigMap", configMapItem); err == nil || errors.Is(err, errNotExact) {
		t.Errorf("JSON where protobuf was asked for: err = %v, want an error that is not errNotExact", err)
	}
}

// TestListPagesAsProtobuf: through HTTP, the lister reads ConfigMaps as
// protobuf; a page holding a field this build does not know is read again
// as JSON (and nothing of it is lost); an error served as protobuf keeps its
// code (an expired continue token stays a 410).
func TestListPagesAsProtobuf(t *testing.T) {
	page := func(n int) *corev1.ConfigMapList {
		l := &corev1.ConfigMapList{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMapList"}, ListMeta: metav1.ListMeta{ResourceVersion: fmt.Sprint(100 + n)}}
		if n < 3 {
			l.Continue = fmt.Sprint(n + 1)
		}
		for i := 0; i < 2; i++ {
			l.Items = append(l.Items, corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("p%d-%d", n, i), Namespace: "ns"},
				Data: map[string]string{"k": fmt.Sprintf("%d%d", n, i)}})
		}
		return l
	}
	for _, tc := range []struct {
		name     string
		newer    int // this page, as protobuf, carries a field this build does not know
		expired  int // this page's continue token has expired
		wantJSON []string
		wantErr  bool
	}{
		{name: "protobuf", wantJSON: nil},
		{name: "a page of a newer cluster", newer: 2, wantJSON: []string{"2"}},
		{name: "an expired continue token", expired: 2, wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var mu sync.Mutex
			var asJSON []string
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				n := 1
				if c := r.URL.Query().Get("continue"); c != "" {
					n, _ = strconv.Atoi(c)
				}
				proto := strings.Contains(r.Header.Get("Accept"), "protobuf")
				if n == tc.expired {
					st := &metav1.Status{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Status"}, Status: metav1.StatusFailure,
						Code: http.StatusGone, Reason: metav1.StatusReasonExpired, Message: "The provided continue parameter is too old"}
					codec, ct := runtime.Encoder(jsonCodec), "application/json"
					if proto {
						codec, ct = protoCodec, "application/vnd.kubernetes.protobuf"
					}
					var b bytes.Buffer
					if err := codec.Encode(st, &b); err != nil {
						t.Error(err)
					}
					w.Header().Set("Content-Type", ct)
					w.WriteHeader(http.StatusGone)
					w.Write(b.Bytes())
					return
				}
				pb, js := served(t, page(n))
				if !proto {
					mu.Lock()
					asJSON = append(asJSON, fmt.Sprint(n))
					mu.Unlock()
					w.Header().Set("Content-Type", "application/json")
					w.Write(js)
					return
				}
				if n == tc.newer { // a field 3 of the list, as a newer schema could add
					var env runtime.Unknown
					if err := env.Unmarshal(pb[len(protobufMagic):]); err != nil {
						t.Error(err)
					}
					env.Raw = protowire.AppendBytes(protowire.AppendTag(env.Raw, 3, protowire.BytesType), []byte("new"))
					e, _ := env.Marshal()
					pb = append(append([]byte(nil), protobufMagic...), e...)
				}
				w.Header().Set("Content-Type", "application/vnd.kubernetes.protobuf")
				w.Write(pb)
			}))
			defer srv.Close()
			cfg := &rest.Config{Host: srv.URL}
			protoCfg := rest.CopyConfig(cfg)
			protoCfg.ContentType = "application/vnd.kubernetes.protobuf"
			protoCfg.AcceptContentTypes = "application/vnd.kubernetes.protobuf,application/json"
			kube, err := kubernetes.NewForConfig(protoCfg)
			if err != nil {
				t.Fatal(err)
			}
			dyn, err := dynamic.NewForConfig(cfg)
			if err != nil {
				t.Fatal(err)
			}
			l := &lister{dyn: dyn, proto: kube.CoreV1().RESTClient(), learn: func(schema.GroupVersionResource, *unstructured.Unstructured) {}}
			if l.raw, err = rest.UnversionedRESTClientFor(dynamic.ConfigFor(cfg)); err != nil {
				t.Fatal(err)
			}
			var seen []string
			rv, err := l.listPages(context.Background(), configMaps, "", func(u *unstructured.Unstructured) error {
				seen = append(seen, fmt.Sprintf("%s=%v", u.GetName(), u.Object["data"]))
				return nil
			}, nil)
			if tc.wantErr {
				if !apierrors.IsResourceExpired(err) {
					t.Fatalf("err = %v, want the 410 Expired", err)
				}
				return
			}
			if err != nil || rv != "101" {
				t.Fatalf("rv %q, err %v", rv, err)
			}
			want := "p1-0=map[k:10] p1-1=map[k:11] p2-0=map[k:20] p2-1=map[k:21] p3-0=map[k:30] p3-1=map[k:31]"
			if got := strings.Join(seen, " "); got != want {
				t.Errorf("planned %s\nwant %s", got, want)
			}
			if fmt.Sprint(asJSON) != fmt.Sprint(tc.wantJSON) {
				t.Errorf("pages read as JSON %v, want %v", asJSON, tc.wantJSON)
			}
		})
	}
}

// benchPage is a page of 500 ConfigMaps of 1 KiB, as the bench's snapshot
// phase lists them (with the managedFields kube-apiserver adds).
func benchPage(b *testing.B) (pb, js []byte) {
	ts := metav1.Now()
	l := &corev1.ConfigMapList{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMapList"}, ListMeta: metav1.ListMeta{ResourceVersion: "123", Continue: "abc"}}
	for i := 0; i < listPage; i++ {
		l.Items = append(l.Items, corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("cm-%05d", i), Namespace: "bench-snap",
			UID: "0a1b2c3d-aaaa-bbbb-cccc-000000000000", ResourceVersion: "12345", CreationTimestamp: ts,
			Labels: map[string]string{"app.kubernetes.io/part-of": "bench"},
			ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "bench", Operation: "Update", APIVersion: "v1", Time: &ts, FieldsType: "FieldsV1",
				FieldsV1: &metav1.FieldsV1{Raw: []byte(`{"f:data":{".":{},"f:payload":{},"f:seq":{}},"f:metadata":{"f:labels":{".":{},"f:app.kubernetes.io/part-of":{}}}}`)}}}},
			Data: map[string]string{"payload": strings.Repeat(fmt.Sprintf("object %d ", i), 120)[:1024], "seq": "0"}})
	}
	return served(b, l)
}

// BenchmarkListPage: decoding a page of 500 ConfigMaps into the maps the
// snapshot renders, from JSON and from protobuf.
func BenchmarkListPage(b *testing.B) {
	pb, js := benchPage(b)
	b.Run("json", func(b *testing.B) {
		b.SetBytes(int64(len(js)))
		for b.Loop() {
			if _, err := decodeList(js); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("protobuf", func(b *testing.B) {
		b.SetBytes(int64(len(pb)))
		for b.Loop() {
			if _, err := decodeProtoList(pb, "ConfigMap", configMapItem); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestProtoPagesAcceptJSON: a server that answers a protobuf LIST in JSON
// (one that serves no protobuf, or a proxy) is read as JSON.
func TestProtoPagesAcceptJSON(t *testing.T) {
	l := &corev1.ConfigMapList{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMapList"}, ListMeta: metav1.ListMeta{ResourceVersion: "7"},
		Items: []corev1.ConfigMap{{ObjectMeta: metav1.ObjectMeta{Name: "a", Namespace: "ns"}, Data: map[string]string{"k": "v"}}}}
	_, js := served(t, l)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.Contains(r.Header.Get("Accept"), "application/json") {
			http.Error(w, "406: JSON only", http.StatusNotAcceptable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(js)
	}))
	defer srv.Close()
	cfg := &rest.Config{Host: srv.URL, ContentConfig: rest.ContentConfig{ContentType: "application/vnd.kubernetes.protobuf"}}
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	got, err := protoPages{kube.CoreV1().RESTClient()}.page(context.Background(), configMaps, "", listPage, "")
	if err != nil || len(got.Items) != 1 || got.Items[0].GetName() != "a" || got.GetResourceVersion() != "7" {
		t.Fatalf("%v %+v", err, got)
	}
}

// TestEnvelope: the envelope read by hand gives what runtime.Unknown's
// Unmarshal gives; an encoded (compressed) object is not read (errNotExact:
// the page is read as JSON); a truncated envelope is an error.
// TestEnvelope: the envelope read by hand gives what runtime.Unknown's
// Unmarshal gives; an encoded (compressed) object is not read (errNotExact:
// the page is read as JSON); a truncated envelope is an error.
func TestEnvelope(t *testing.T) {
	env := runtime.Unknown{TypeMeta: runtime.TypeMeta{APIVersion: "v1", Kind: "ConfigMapList"}, Raw: []byte{0x0a, 0x02, 0x10, 0x01}, ContentType: "application/vnd.kubernetes.protobuf"}
	b, err := env.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	kind, raw, err := envelope(b)
	if err != nil || kind != "ConfigMapList" || !bytes.Equal(raw, env.Raw) {
		t.Errorf("envelope = %q, %x, %v; want ConfigMapList, %x", kind, raw, err, env.Raw)
	}
	env.ContentEncoding = "gzip"
	b, _ = env.Marshal()
	if _, _, err := envelope(b); !errors.Is(err, errNotExact) {
		t.Errorf("an encoded envelope: %v, want errNotExact", err)
	}
	env.ContentEncoding = ""
	b, _ = env.Marshal()
	if _, _, err := envelope(b[:len(b)-3]); err == nil {
		t.Error("a truncated envelope read without error")
	}
}

// BenchmarkReadPage: reading a page of 500 ConfigMaps over HTTP as protobuf
// and decoding it (benchPage's page, from a local server); -benchmem shows
// what reading the body costs besides decoding (BenchmarkListPage).
func BenchmarkReadPage(b *testing.B) {
	pb, _ := benchPage(b)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/vnd.kubernetes.protobuf")
		w.Write(pb)
	}))
	defer srv.Close()
	cfg := &rest.Config{Host: srv.URL, ContentConfig: rest.ContentConfig{ContentType: "application/vnd.kubernetes.protobuf"},
		QPS: -1} // no client-side rate limit: the page's cost alone
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		b.Fatal(err)
	}
	pages := protoPages{kube.CoreV1().RESTClient()}
	b.SetBytes(int64(len(pb)))
	for b.Loop() {
		if _, err := pages.page(context.Background(), configMaps, "", listPage, ""); err != nil {
			b.Fatal(err)
		}
	}
}
