package git

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
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

// ErrFetchTooLarge is wrapped by the error of an operation that would have
// downloaded more than MaxFetchSize.
var ErrFetchTooLarge = errors.New("the repository is larger than the server's limit")

// FetchTooLargeError is the error of an operation stopped at the limit.
type FetchTooLargeError struct {
	// Limit is the limit that was hit, in bytes.
	Limit int64
}

func (e *FetchTooLargeError) Error() string {
	return fmt.Sprintf("%s (--max-fetch-size=%s)", ErrFetchTooLarge, FormatByteSize(e.Limit))
}

// Is makes errors.Is(err, ErrFetchTooLarge) hold.
func (e *FetchTooLargeError) Is(target error) bool { return target == ErrFetchTooLarge }

// FormatByteSize writes n the way a resource.Quantity in binary units does
// ("1Gi", "512Mi", "1536Ki", "1000").
func FormatByteSize(n int64) string {
	for _, u := range []struct {
		suffix string
		size   int64
	}{{"Ei", 1 << 60}, {"Pi", 1 << 50}, {"Ti", 1 << 40}, {"Gi", 1 << 30}, {"Mi", 1 << 20}, {"Ki", 1 << 10}} {
		if n >= u.size && n%u.size == 0 {
			return strconv.FormatInt(n/u.size, 10) + u.suffix
		}
	}
	return strconv.FormatInt(n, 10)
}

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

// removeTempPacks removes the packfiles go-git left half-written in the clone
// (objects/pack/tmp_pack_*): when a fetch fails, go-git's pack writer returns
// without removing its temporary file, so every fetch stopped at the limit
// would leave up to the limit behind. Only the Repo writes into its Dir.
func (r *Repo) removeTempPacks() {
	tmp, _ := filepath.Glob(filepath.Join(r.opts.Dir, "objects", "pack", "tmp_pack_*"))
	for _, f := range tmp {
		_ = os.Remove(f)
	}
}
