package stream

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"k8s.io/client-go/rest"
)

// rawPages reads a LIST's pages as bytes and decodes each once. The dynamic
// client decodes a page three times (its items as raw messages, the whole
// list into a map whose items it then drops, each item again), and decoding
// was the largest part of a snapshot's CPU after rendering: at 10,000
// ConfigMaps a third of the profile was the JSON scanner.
type rawPages struct{ client rest.Interface }

// page reads one page of gvr in ns ("": all namespaces).
func (r rawPages) page(ctx context.Context, gvr schema.GroupVersionResource, ns string, limit int64, cont string) (*unstructured.UnstructuredList, error) {
	return getPage(ctx, r.client, gvr, ns, limit, cont, "", decodeList)
}

// pageBuffers hold the pages read: io.ReadAll would allocate about twice a
// page's size as it grows (a page of 500 ConfigMaps of 1 KiB is 0.7 MB as
// protobuf), for every page of every snapshot. Decoding copies what it
// keeps, so a buffer is reused once its page is decoded.
var pageBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// getPage reads one page of a LIST, asking for accept ("": the client's
// default), and decodes its bytes.
func getPage(ctx context.Context, client rest.Interface, gvr schema.GroupVersionResource, ns string, limit int64, cont, accept string,
	decode func([]byte) (*unstructured.UnstructuredList, error)) (*unstructured.UnstructuredList, error) {
	req := client.Get().AbsPath(listPath(gvr, ns)).Param("limit", strconv.FormatInt(limit, 10))
	if cont != "" {
		req = req.Param("continue", cont)
	}
	if accept != "" {
		req = req.SetHeader("Accept", accept)
	}
	// Stream decodes the server's Status of an answer that is not a 2xx,
	// as the dynamic client does (403 names the user, 410 says Expired).
	body, err := req.Stream(ctx)
	if err != nil {
		return nil, err
	}
	defer body.Close()
	buf := pageBuffers.Get().(*bytes.Buffer)
	defer pageBuffers.Put(buf)
	buf.Reset()
	if _, err := buf.ReadFrom(body); err != nil {
		return nil, fmt.Errorf("reading a page of %s: %w", gvr.Resource, err)
	}
	return decode(buf.Bytes())
}

// listPath is the URL path of a LIST of gvr in ns ("": all namespaces).
func listPath(gvr schema.GroupVersionResource, ns string) string {
	p := "/apis/" + gvr.Group + "/" + gvr.Version
	if gvr.Group == "" {
		p = "/api/" + gvr.Version
	}
	if ns != "" {
		p += "/namespaces/" + ns
	}
	return p + "/" + gvr.Resource
}

// decodeList decodes a LIST's JSON in one pass into what the dynamic client
// returns for it: the list's own fields, and its items as objects, each
// given the list's apiVersion and item kind when it has neither (typed lists
// leave them out). What is not a list is an error, never an empty page: an
// empty last page would make the snapshot delete every file of the type.
func decodeList(b []byte) (*unstructured.UnstructuredList, error) {
	var obj map[string]interface{}
	if err := utiljson.Unmarshal(b, &obj); err != nil {
		return nil, err
	}
	if kind, _ := obj["kind"].(string); !strings.HasSuffix(kind, "List") {
		return nil, fmt.Errorf("the answer to a LIST is not a list (kind %q)", kind)
	}
	items, ok := obj["items"].([]interface{})
	if !ok && obj["items"] != nil {
		return nil, fmt.Errorf("the list's items are not an array")
	}
	delete(obj, "items")
	list := &unstructured.UnstructuredList{Object: obj, Items: make([]unstructured.Unstructured, len(items))}
	apiVersion, kind := list.GetAPIVersion(), strings.TrimSuffix(list.GetKind(), "List")
	for i, it := range items {
		m, ok := it.(map[string]interface{})
		if !ok {
			return nil, fmt.Errorf("item %d of the list is not an object", i)
		}
		u := &list.Items[i]
		u.Object = m
		if u.GetKind() == "" && u.GetAPIVersion() == "" {
			u.SetKind(kind)
			u.SetAPIVersion(apiVersion)
		}
	}
	return list, nil
}
