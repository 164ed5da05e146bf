// Command etcdprobe is the install test's hostile tenant: run as a pod without
// the bundled etcd's client certificate, it tries to read and write that etcd
// every way a pod could, and prints one JSON object (Result) with what
// happened. It always exits 0 once it has printed: the test judges.
//
// Only for test/cluster, which builds it into an image of its own.
package main

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// Attempt is one try; OK means etcd did what was asked.
type Attempt struct {
	OK     bool   `json:"ok"`
	Status int    `json:"status,omitempty"` // HTTP status, when one came back
	Body   string `json:"body,omitempty"`
	Error  string `json:"error,omitempty"`
	// Handshake: the TLS handshake completed (the address serves TLS).
	Handshake bool `json:"handshake,omitempty"`
	// TLSRefused: the error is a TLS alert or certificate error.
	TLSRefused bool `json:"tlsRefused,omitempty"`
	// Detail: the client's last logged error (the reason behind a timeout).
	Detail string `json:"detail,omitempty"`
	// Timeout: the error is a timeout (alone, a dead address proves nothing).
	Timeout bool    `json:"timeout,omitempty"`
	Seconds float64 `json:"seconds"`
}

// Result is what the probe prints.
type Result struct {
	// PlainHTTPPut, PlainHTTPRange: etcd's JSON gateway over plain http on the
	// client port.
	PlainHTTPPut   Attempt `json:"plainHTTPPut"`
	PlainHTTPRange Attempt `json:"plainHTTPRange"`
	// TLSNoCert: a TLS connection without a client certificate, then a
	// request (the server's verdict on the missing certificate arrives there
	// in TLS 1.3).
	TLSNoCert Attempt `json:"tlsNoCert"`
	// ClientPut, ClientGet: go.etcd.io/etcd/client/v3 over TLS without a
	// client certificate.
	ClientPut Attempt `json:"clientPut"`
	ClientGet Attempt `json:"clientGet"`
	// PlainClientPut: the same client over plain http.
	PlainClientPut Attempt `json:"plainClientPut"`
	// MetricsReadyz, MetricsRange: the plain-http health port, which must
	// answer /readyz and nothing of the key-value API.
	MetricsReadyz Attempt `json:"metricsReadyz"`
	MetricsRange  Attempt `json:"metricsRange"`
}

const key = "/registry/configbutler.ai/probe"

// mu guards every Attempt's Detail, written by the clients' loggers.
var mu sync.Mutex

// detailWriter keeps the "error" of the last log entry as the Detail.
type detailWriter struct{ a *Attempt }

func (w detailWriter) Write(p []byte) (int, error) {
	var entry struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(p, &entry) == nil && entry.Error != "" {
		mu.Lock()
		w.a.Detail = truncate(entry.Error)
		mu.Unlock()
	}
	return len(p), nil
}

// probe is one run: where etcd is, and how long each attempt may take.
type probe struct {
	addr, metrics string
	timeout       time.Duration
	wg            sync.WaitGroup
}

// No verification of etcd's certificate: a tenant has no CA, and the refusal
// under test is of the client, not of the server.
var noCert = &tls.Config{InsecureSkipVerify: true}

var (
	putBody   = `{"key":"` + b64(key) + `","value":"` + b64("planted") + `"}`
	rangeBody = `{"key":"` + b64(key) + `"}`
)

func main() {
	p := &probe{}
	flag.StringVar(&p.addr, "addr", "", "etcd's client address, host:port")
	flag.StringVar(&p.metrics, "metrics", "", "etcd's health and metrics address, host:port")
	flag.DurationVar(&p.timeout, "timeout", 4*time.Second, "timeout of each attempt")
	flag.Parse()
	if p.addr == "" || p.metrics == "" {
		fmt.Fprintln(os.Stderr, "etcdprobe: -addr and -metrics are required")
		os.Exit(2)
	}
	var r Result
	p.do(&r.PlainHTTPPut, func(ctx context.Context, a *Attempt) error {
		return post(ctx, a, http.DefaultClient, "http://"+p.addr+"/v3/kv/put", putBody)
	})
	p.do(&r.PlainHTTPRange, func(ctx context.Context, a *Attempt) error {
		return post(ctx, a, http.DefaultClient, "http://"+p.addr+"/v3/kv/range", rangeBody)
	})
	p.do(&r.TLSNoCert, p.tlsNoCert)
	p.do(&r.ClientPut, func(ctx context.Context, a *Attempt) error { return p.clientPut(ctx, a, "https", noCert) })
	p.do(&r.ClientGet, p.clientGet)
	p.do(&r.PlainClientPut, func(ctx context.Context, a *Attempt) error { return p.clientPut(ctx, a, "http", nil) })
	p.do(&r.MetricsReadyz, p.metricsReadyz)
	p.do(&r.MetricsRange, func(ctx context.Context, a *Attempt) error {
		return post(ctx, a, http.DefaultClient, "http://"+p.metrics+"/v3/kv/range", rangeBody)
	})
	p.wg.Wait()
	out, _ := json.Marshal(r)
	fmt.Println(string(out))
}

// do runs one attempt in the background, with its own deadline, and records
// how it ended.
func (p *probe) do(a *Attempt, f func(context.Context, *Attempt) error) {
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), p.timeout)
		defer cancel()
		start := time.Now()
		err := f(ctx, a)
		a.Seconds = time.Since(start).Seconds()
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			a.Error = err.Error()
			a.TLSRefused = isTLSRefusal(err) || isTLSRefusal(errors.New(a.Detail))
			a.Timeout = isTimeout(err)
		}
	}()
}

// tlsNoCert connects with TLS but no client certificate, then asks for a
// range: in TLS 1.3 the server's verdict on the missing certificate arrives
// with the first read.
func (p *probe) tlsNoCert(ctx context.Context, a *Attempt) error {
	d := tls.Dialer{Config: noCert}
	c, err := d.DialContext(ctx, "tcp", p.addr)
	if err != nil {
		return err
	}
	defer c.Close()
	a.Handshake = true
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	}
	req := "POST /v3/kv/range HTTP/1.1\r\nHost: " + p.addr + "\r\nContent-Type: application/json\r\nContent-Length: " +
		fmt.Sprint(len(rangeBody)) + "\r\nConnection: close\r\n\r\n" + rangeBody
	if _, err := io.WriteString(c, req); err != nil {
		return err
	}
	b, err := io.ReadAll(c)
	if len(b) > 0 {
		a.Body = truncate(string(b))
		a.OK = strings.HasPrefix(string(b), "HTTP/1.1 200")
	}
	return err
}

// client is etcd's own client without a client certificate. It says only
// "context deadline exceeded"; why is in its warning log (gRPC's last
// connection error), kept as Detail.
func (p *probe) client(a *Attempt, scheme string, tc *tls.Config) (*clientv3.Client, error) {
	return clientv3.New(clientv3.Config{Endpoints: []string{scheme + "://" + p.addr}, TLS: tc,
		DialTimeout: p.timeout, Logger: zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()),
			zapcore.AddSync(detailWriter{a}), zap.WarnLevel))})
}

func (p *probe) clientPut(ctx context.Context, a *Attempt, scheme string, tc *tls.Config) error {
	c, err := p.client(a, scheme, tc)
	if err != nil {
		return err
	}
	defer c.Close()
	if _, err := c.Put(ctx, key, "planted"); err != nil {
		return err
	}
	a.OK = true
	return nil
}

func (p *probe) clientGet(ctx context.Context, a *Attempt) error {
	c, err := p.client(a, "https", noCert)
	if err != nil {
		return err
	}
	defer c.Close()
	resp, err := c.Get(ctx, "/registry/", clientv3.WithPrefix(), clientv3.WithKeysOnly(), clientv3.WithLimit(3))
	if err != nil {
		return err
	}
	a.OK = true
	a.Body = fmt.Sprintf("%d keys", resp.Count)
	return nil
}

func (p *probe) metricsReadyz(ctx context.Context, a *Attempt) error {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+p.metrics+"/readyz", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	a.Status, a.Body, a.OK = resp.StatusCode, truncate(string(b)), resp.StatusCode == http.StatusOK
	return nil
}

// post sends body; OK is a 2xx answer.
func post(ctx context.Context, a *Attempt, c *http.Client, url, body string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	a.Status, a.Body = resp.StatusCode, truncate(string(b))
	a.OK = resp.StatusCode/100 == 2
	return nil
}

func isTLSRefusal(err error) bool {
	if err == nil || err.Error() == "" {
		return false
	}
	var alert tls.AlertError
	var cv *tls.CertificateVerificationError
	var rh tls.RecordHeaderError
	if errors.As(err, &alert) || errors.As(err, &cv) || errors.As(err, &rh) {
		return true
	}
	// Through gRPC the error is text.
	s := err.Error()
	return strings.Contains(s, "tls: ") || strings.Contains(s, "certificate")
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func truncate(s string) string {
	if len(s) > 300 {
		return s[:300] + "..."
	}
	return s
}
