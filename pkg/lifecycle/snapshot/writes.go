package snapshot

import (
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/go-git/go-git/v5/plumbing"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/configbutler/gitops-reverser/pkg/gitmodel"
	"github.com/configbutler/gitops-reverser/pkg/lifecycle/mirror"
	"github.com/configbutler/gitops-reverser/pkg/render"
)

// Rendering an object's file (YAML), encrypting it (a Secret's) and
// compressing it are most of a snapshot's CPU, and each object's is
// independent of every other's. So the plan collects the files it writes
// in a batch and, when the batch is full or the type is read, renders and
// compresses the batch on every core at once (while the lister reads and
// decodes the next page). What the plan decides and records (which files,
// the counts, the spool's order) stays on its own goroutine, in the order
// the objects came.

// writeBatch is how many files wait for their rendering: enough to keep
// the cores busy between flushes, few enough that the files in flight stay
// small beside the page being read (500 objects).
const writeBatch = 32

// pendingWrite is an object's file waiting in the batch: what render needs,
// then what it made.
type pendingWrite struct {
	gvr   schema.GroupVersionResource
	obj   *unstructured.Unstructured
	path  string
	blob  plumbing.Hash // the file there (had)
	had   bool
	old   []byte // a Secret's file there, to keep its ciphertext when unchanged
	keys  *mirror.Keys
	clean *render.Cleaner

	compressed gitmodel.Compressed
	unchanged  bool
	err        error
}

// renderBufs are the buffers files are rendered into: a file is compressed
// (copied) at once and its rendering not kept, so one buffer serves file
// after file instead of a new one grown per object (a snapshot of 10,000
// ConfigMaps allocated some 30 MB for them). A buffer grown past
// maxRenderBuf by a large object is left to the collector.
var renderBufs = sync.Pool{New: func() any { b := make([]byte, 0, 4<<10); return &b }}

const maxRenderBuf = 64 << 10

// render renders, encrypts and compresses the file. It touches only w: the
// batch's files are rendered concurrently.
func (w *pendingWrite) render() {
	buf := renderBufs.Get().(*[]byte)
	plain, err := render.AppendRender((*buf)[:0], w.obj, w.clean)
	var content []byte
	if err == nil {
		content, w.unchanged, err = contentFor(w.gvr, plain, w.keys, w.old, w.blob, w.had)
	} else {
		plain = *buf
	}
	w.err, w.old = err, nil
	if err == nil && !w.unchanged {
		w.compressed = gitmodel.Compress(content)
	}
	if b, ok := recycled(plain, render.IsSecret(w.gvr)); ok {
		*buf = b
		renderBufs.Put(buf)
	}
}

// recycled is what of a rendering's buffer goes back to the pool: nothing
// when a large object grew it past maxRenderBuf; cleared first when it held
// a Secret's plaintext, which must not wait there for the next file.
func recycled(plain []byte, secret bool) ([]byte, bool) {
	if secret {
		clear(plain[:cap(plain)])
	}
	if cap(plain) > maxRenderBuf {
		return nil, false
	}
	return plain[:0], true
}

// flushWrites renders the batch on up to GOMAXPROCS goroutines, then records
// each file in order. A failure to keep a file (the local disk) fails it.
func (p *Plan) flushWrites() error {
	batch := p.pending
	if len(batch) == 0 {
		return nil
	}
	renderAll(batch, runtime.GOMAXPROCS(0))
	defer func() {
		clear(batch) // the objects and their files go with the batch
		p.pending = batch[:0]
	}()
	for i := range batch {
		if err := p.record(&batch[i]); err != nil {
			return err
		}
	}
	return nil
}

// renderAll renders every file of batch on up to workers goroutines.
func renderAll(batch []pendingWrite, workers int) {
	workers = max(1, min(workers, len(batch)))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= len(batch) {
					return
				}
				batch[i].render()
			}
		})
	}
	wg.Wait()
}
