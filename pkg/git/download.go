package git

import (
	"context"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
)

// DefaultMaxFetchSize is the default of SetMaxFetchSize: 1 GiB.
const DefaultMaxFetchSize int64 = 1 << 30

// maxFetchSize is the limit of this process (SetMaxFetchSize). Like the remote
// policy it is process-wide: go-git's transports are.
var maxFetchSize atomic.Int64

func init() { maxFetchSize.Store(DefaultMaxFetchSize) }

// SetMaxFetchSize bounds what one clone, fetch, push or ls-remote of this
// process may download from a remote: n bytes as they arrive on the wire (the
// HTTP response bodies of the operation, the SSH connection's bytes); 0 or
// less means no limit. A GitProvider's URL is a tenant's input: without a
// limit a provider naming a huge repository makes the server download all of
// it, once per branch worker. Past the limit the operation fails with an error
// wrapping ErrFetchTooLarge and, for a first clone, leaves nothing behind.
//
// file:// remotes (and local paths, allowed only with --allow-remotes=file)
// are not bounded: go-git serves them in-process. Neither is git:// (go-git
// dials it with no hook to count through).
func SetMaxFetchSize(n int64) {
	if n < 0 {
		n = 0
	}
	maxFetchSize.Store(n)
}

// MaxFetchSize is the limit SetMaxFetchSize set (0: none).
func MaxFetchSize() int64 { return maxFetchSize.Load() }

// DefaultMaxObjectSize is the default of SetMaxObjectSize: 64 MiB. Besides
// a cache of 96 MiB, go-git holds a few objects of a pack at once while it
// resolves its deltas (and a chain of them, see SetMaxObjectSize): packs of
// a few hundred KiB made of objects just under 64 MiB, within every bound
// here, drove it to 320 MiB of live heap (objects under 32 MiB: 272 MiB). A
// manifest repository has no object near either; the server reads files of
// at most MaxFileSize.
const DefaultMaxObjectSize int64 = 64 << 20

// maxObjectSize is the limit of this process (SetMaxObjectSize), process-wide
// like maxFetchSize.
var maxObjectSize atomic.Int64

func init() { maxObjectSize.Store(DefaultMaxObjectSize) }

// SetMaxObjectSize bounds the objects a clone or fetch of this process accepts
// from a remote, by their inflated size: n bytes; 0 or less means no limit.
// MaxFetchSize bounds the bytes on the wire, but objects arrive compressed
// (512 MiB of zeros is half a MiB of pack) and go-git holds each one inflated
// in memory while it indexes the pack, so without this bound a tiny repository
// costs any amount of memory. It is checked as the pack streams in, before
// go-git sees the object (see packscan.go), on:
//   - an object's declared size (a commit, tree, blob or tag),
//   - a delta's declared size and the source and result sizes written at the
//     start of its data (a delta of a few bytes can declare a result of any
//     size),
//   - a delta chain: go-git may hold every object of a chain at once while it
//     resolves it (when its cache lost them), so the result sizes along a
//     chain of deltas by offset, and the size of its base, add up to at most
//     MaxDeltaChainSize or 2n, whichever is more; the deltas by reference of
//     one pack (sent only by a server that ignores the ofs-delta capability
//     go-git asks for) add up to at most n.
//
// Past it the operation fails with an error wrapping ErrObjectTooLarge
// (*ObjectTooLargeError) and, like past MaxFetchSize, a first clone leaves
// nothing behind and a fetch no half-written pack. Every remote kind is
// bounded, file:// included.
func SetMaxObjectSize(n int64) {
	if n < 0 {
		n = 0
	}
	maxObjectSize.Store(n)
}

// MaxObjectSize is the limit SetMaxObjectSize set (0: none).
func MaxObjectSize() int64 { return maxObjectSize.Load() }

// MaxDeltaChainSize bounds a delta chain of a fetched pack (see
// SetMaxObjectSize): 128 MiB, a chain of 50 deltas (git's default depth) of a
// file of 2.5 MiB. The largest chains of source repositories like go-git's
// are near 1 MiB.
const MaxDeltaChainSize int64 = 128 << 20

// chainLimit is the bound of a delta chain under the object bound limit.
func chainLimit(limit int64) int64 { return max(MaxDeltaChainSize, 2*limit) }

// budget counts the bytes of one download against a limit.
type budget struct {
	limit int64
	n     atomic.Int64
	hit   atomic.Bool
}

func newBudget(limit int64) *budget {
	if limit <= 0 {
		return nil
	}
	return &budget{limit: limit}
}

// take counts n bytes that arrived and fails once the limit is passed (and
// ever after).
func (b *budget) take(n int) error {
	if b == nil {
		return nil
	}
	if b.hit.Load() || b.n.Add(int64(n)) > b.limit {
		b.hit.Store(true)
		return &FetchTooLargeError{Limit: b.limit}
	}
	return nil
}

func (b *budget) exceeded() bool { return b != nil && b.hit.Load() }

// download is one operation (a fetch, a push, an ls-remote) whose budget the
// transports find in its context. HTTP responses of the operation take from
// one budget; an SSH session counts its connection's bytes in its own budget
// and links it here when the operation uses it (its dial has no context).
type download struct {
	own *budget
	mu  sync.Mutex
	ssh []*budget
}

type downloadKey struct{}

// withDownload starts an operation's download accounting.
func withDownload(ctx context.Context) (context.Context, *download) {
	d := &download{own: newBudget(MaxFetchSize())}
	return context.WithValue(ctx, downloadKey{}, d), d
}

func downloadOf(ctx context.Context) *download {
	d, _ := ctx.Value(downloadKey{}).(*download)
	return d
}

// link counts b (an SSH connection's budget) as part of the operation in ctx.
func link(ctx context.Context, b *budget) {
	d := downloadOf(ctx)
	if d == nil || b == nil {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, x := range d.ssh {
		if x == b {
			return
		}
	}
	d.ssh = append(d.ssh, b)
}

func (d *download) exceeded() (int64, bool) {
	if d.own.exceeded() {
		return d.own.limit, true
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, b := range d.ssh {
		if b.exceeded() {
			return b.limit, true
		}
	}
	return 0, false
}

// check returns the operation's outcome: whatever the transport made of a
// stream cut at the limit (an unexpected EOF, a pack that does not parse, even
// an advertisement that reads as empty), a download that hit the limit is an
// ErrFetchTooLarge.
func (d *download) check(err error) error {
	if limit, hit := d.exceeded(); hit {
		return &FetchTooLargeError{Limit: limit}
	}
	return err
}

// boundedTransport bounds the response bodies of the HTTP(S) transport: those
// of an operation (see withDownload) together, any other one by itself.
type boundedTransport struct{ rt http.RoundTripper }

func (t boundedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.rt.RoundTrip(req)
	if err != nil || resp.Body == nil {
		return resp, err
	}
	var b *budget
	if d := downloadOf(req.Context()); d != nil {
		b = d.own
	} else {
		b = newBudget(MaxFetchSize())
	}
	if b != nil {
		resp.Body = &boundedBody{ReadCloser: resp.Body, b: b}
	}
	return resp, nil
}

type boundedBody struct {
	io.ReadCloser
	b *budget
}

func (r *boundedBody) Read(p []byte) (int, error) {
	n, err := r.ReadCloser.Read(p)
	if berr := r.b.take(n); berr != nil {
		return n, berr
	}
	return n, err
}

// countingConn counts what is read from a connection in a budget and fails
// the read that passes it (the SSH transport then drops the connection).
type countingConn struct {
	net.Conn
	b *budget
}

func (c *countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if berr := c.b.take(n); berr != nil {
		_ = c.Conn.Close()
		return n, berr
	}
	return n, err
}
