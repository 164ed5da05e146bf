package stream

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
)

// configMaps is the type the paged lists serve.
var configMaps = schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}

// pagedLister lists from an HTTP server that serves a LIST of configmaps in
// pages of two, with continue tokens, and refuses page failAt (0: none);
// calls counts the LISTs. raw: the pages are read as bytes (rawPages), as
// the server does, else through the dynamic client.
func pagedLister(t *testing.T, raw bool, pages, failAt int, calls *atomic.Int32) *lister {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		if r.URL.Path != "/api/v1/configmaps" || r.URL.Query().Get("limit") != strconv.Itoa(listPage) {
			http.Error(w, "not the LIST asked for: "+r.URL.String(), http.StatusNotFound)
			return
		}
		page := 1
		if c := r.URL.Query().Get("continue"); c != "" {
			page, _ = strconv.Atoi(c)
		}
		if page == failAt {
			http.Error(w, `{"kind":"Status","apiVersion":"v1","status":"Failure","message":"page refused","code":500}`, http.StatusInternalServerError)
			return
		}
		next := ""
		if page < pages {
			next = fmt.Sprint(page + 1)
		}
		var items []string
		for i := 0; i < 2; i++ {
			items = append(items, fmt.Sprintf(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"p%d-%d","namespace":"ns"},"status":{"x":1}}`, page, i))
		}
		w.Header().Set("Content-Type", "application/json")
		// Only the first page's resourceVersion counts.
		fmt.Fprintf(w, `{"apiVersion":"v1","kind":"ConfigMapList","metadata":{"resourceVersion":"%d","continue":%q},"items":[%s]}`, 100+page, next, strings.Join(items, ","))
	}))
	t.Cleanup(srv.Close)
	cfg := &rest.Config{Host: srv.URL}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	l := &lister{dyn: dyn, learn: func(schema.GroupVersionResource, *unstructured.Unstructured) {}}
	if raw {
		if l.raw, err = rest.UnversionedRESTClientFor(dynamic.ConfigFor(cfg)); err != nil {
			t.Fatal(err)
		}
	}
	return l
}

// TestListPages: pages read ahead are planned in order, stripped, at the
// first page's resourceVersion (told once that page is read, before any of
// its objects is planned); an error on any page, or from the plan,
// fails the whole list (a partial list never passes for the type) and stops
// the reading.
func TestListPages(t *testing.T) {
	for _, tc := range []struct {
		name          string
		pages, failAt int
		stopAt        string // the plan fails at this object
		wantSeen      int
		wantErr       string
	}{
		{name: "all pages", pages: 4, wantSeen: 8},
		{name: "one page", pages: 1, wantSeen: 2},
		{name: "a page refused", pages: 4, failAt: 3, wantSeen: 4, wantErr: "page refused"},
		{name: "the plan fails", pages: 50, stopAt: "p2-1", wantSeen: 4, wantErr: "plan failed"},
	} {
		for _, raw := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/raw=%v", tc.name, raw), func(t *testing.T) {
				var calls atomic.Int32
				l := pagedLister(t, raw, tc.pages, tc.failAt, &calls)
				var seen, ats []string
				rv, err := l.listPages(context.Background(), configMaps, "", func(u *unstructured.Unstructured) error {
					if len(ats) == 0 {
						t.Errorf("%s planned before the LIST's resourceVersion was told", u.GetName())
					}
					if _, ok := u.Object["status"]; ok {
						t.Errorf("%s reached the plan with its status (not stripped)", u.GetName())
					}
					seen = append(seen, u.GetName())
					if u.GetName() == tc.stopAt {
						return errors.New("plan failed")
					}
					return nil
				}, func(rv string) { ats = append(ats, rv) })
				if strings.Join(ats, ",") != "101" {
					t.Errorf("the LIST's resourceVersion told as %v, want once, the first page's (101)", ats)
				}
				if len(seen) != tc.wantSeen {
					t.Errorf("planned %v, want %d objects", seen, tc.wantSeen)
				}
				for i, name := range seen {
					if want := fmt.Sprintf("p%d-%d", i/2+1, i%2); name != want {
						t.Fatalf("object %d is %s, want %s (in order)", i, name, want)
					}
				}
				switch {
				case tc.wantErr == "" && (err != nil || rv != "101"):
					t.Errorf("rv %q, err %v; want 101", rv, err)
				case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr) || rv != ""):
					t.Errorf("rv %q, err %v; want the error %q", rv, err, tc.wantErr)
				}
				// Reading ahead stops: at most the failing page and two more.
				if n := int(calls.Load()); n > tc.wantSeen/2+3 {
					t.Errorf("%d LISTs for %d planned objects: the reader did not stop", n, len(seen))
				}
			})
		}
	}
}

// TestListPagesCancelled: a list whose context ends before its last page
// fails, whatever was planned so far.
func TestListPagesCancelled(t *testing.T) {
	var calls atomic.Int32
	l := pagedLister(t, true, 10, 0, &calls)
	ctx, cancel := context.WithCancel(context.Background())
	rv, err := l.listPages(ctx, configMaps, "", func(u *unstructured.Unstructured) error {
		if u.GetName() == "p2-0" {
			cancel()
		}
		return nil
	}, nil)
	if err == nil || rv != "" {
		t.Errorf("rv %q, err %v: a cancelled list passed for whole", rv, err)
	}
}

// TestListInTellsTheLowestVersion: a type listed namespace by namespace is
// told read at the lowest of its LISTs' resourceVersions, once all are read:
// the cut GoLive applies, below which the target's buffer may drop events.
func TestListInTellsTheLowestVersion(t *testing.T) {
	rvs := map[string]string{"/api/v1/namespaces/a/configmaps": "300", "/api/v1/namespaces/b/configmaps": "200"}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rv, ok := rvs[r.URL.Path]
		if !ok {
			http.Error(w, "not a LIST asked for: "+r.URL.Path, http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"apiVersion":"v1","kind":"ConfigMapList","metadata":{"resourceVersion":%q},"items":[{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x","namespace":"ns"}}]}`, rv)
	}))
	t.Cleanup(srv.Close)
	dyn, err := dynamic.NewForConfig(&rest.Config{Host: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	l := &lister{dyn: dyn, learn: func(schema.GroupVersionResource, *unstructured.Unstructured) {}}
	var ats []string
	planned := 0
	rv, err := l.listIn(context.Background(), configMaps, []string{"a", "b"}, func(*unstructured.Unstructured) error {
		planned++
		if len(ats) > 0 {
			t.Error("told a version before every LIST was read")
		}
		return nil
	}, func(rv string) { ats = append(ats, rv) })
	if err != nil || rv != "200" || planned != 2 {
		t.Fatalf("listIn = %q, %v after %d objects; want 200 after 2", rv, err, planned)
	}
	if strings.Join(ats, ",") != "200" {
		t.Errorf("told %v, want once the lowest version, 200", ats)
	}
}
