package git

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"

	"github.com/go-git/go-git/v5/plumbing/protocol/packp"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp/capability"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp/sideband"
	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	"github.com/go-git/go-git/v5/utils/ioutil"
)

// pushHTTP is the HTTP client of pushes over http(s): the transport
// installTransports made (the remote policy's dialer, bounded bodies), or
// one like it before any policy is set.
var pushHTTP struct {
	sync.RWMutex
	client *http.Client
}

func setPushClient(c *http.Client) {
	pushHTTP.Lock()
	defer pushHTTP.Unlock()
	pushHTTP.client = c
}

func pushClient() *http.Client {
	pushHTTP.RLock()
	defer pushHTTP.RUnlock()
	if pushHTTP.client != nil {
		return pushHTTP.client
	}
	return &http.Client{Transport: boundedTransport{rt: http.DefaultTransport}}
}

// isHTTP reports whether url is pushed to over http(s).
func isHTTP(url string) bool {
	u := strings.ToLower(url)
	return strings.HasPrefix(u, "http://") || strings.HasPrefix(u, "https://")
}

// receivePackHTTP sends req's commands and the pack in the file pack (of
// size bytes) to the remote's git-receive-pack, streaming the pack from the
// file with a known length. go-git's own request encodes the commands and
// the whole pack into one growing in-memory buffer first: at 100,000 files
// that buffer was the largest allocation of a snapshot. The request is the
// one go-git sends (same headers and authentication); a redirect of the
// POST is followed only by 307 and 308, which resend the body.
func (rm *remote) receivePackHTTP(ctx context.Context, req *packp.ReferenceUpdateRequest, pack *os.File, size int64) (*packp.ReportStatus, error) {
	var cmds bytes.Buffer
	req.Packfile = nil // the commands alone: the pack follows from the file
	if err := req.Encode(&cmds); err != nil {
		return nil, err
	}
	body := func() (io.ReadCloser, error) {
		if _, err := pack.Seek(0, io.SeekStart); err != nil {
			return nil, err
		}
		return io.NopCloser(io.MultiReader(bytes.NewReader(cmds.Bytes()), pack)), nil
	}
	rc, err := body()
	if err != nil {
		return nil, err
	}
	url := strings.TrimSuffix(rm.url, "/") + "/" + transport.ReceivePackServiceName
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, url, rc)
	if err != nil {
		return nil, err
	}
	hr.GetBody, hr.ContentLength = body, int64(cmds.Len())+size
	hr.Header.Set("User-Agent", capability.DefaultAgent())
	hr.Header.Set("Accept", "application/x-git-receive-pack-result")
	hr.Header.Set("Content-Type", "application/x-git-receive-pack-request")
	if a, ok := rm.auth.(githttp.AuthMethod); ok {
		a.SetAuth(hr)
	}
	res, err := pushClient().Do(hr)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	if err := githttp.NewErr(res); err != nil {
		return nil, err
	}
	r, err := ioutil.NonEmptyReader(res.Body)
	if err == ioutil.ErrEmptyReader {
		return nil, nil // as go-git: no report asked for, none sent
	}
	if err != nil {
		return nil, err
	}
	switch {
	case req.Capabilities.Supports(capability.Sideband64k):
		r = sideband.NewDemuxer(sideband.Sideband64k, r)
	case req.Capabilities.Supports(capability.Sideband):
		r = sideband.NewDemuxer(sideband.Sideband, r)
	}
	report := packp.NewReportStatus()
	if err := report.Decode(r); err != nil {
		return nil, err
	}
	return report, report.Error()
}
