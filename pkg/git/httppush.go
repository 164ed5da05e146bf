package git

import (
	"bytes"
	"context"
	"errors"
	"fmt"
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

// pushClient is that client, redirects not followed (see receivePackHTTP).
func pushClient() *http.Client {
	pushHTTP.RLock()
	c := pushHTTP.client
	pushHTTP.RUnlock()
	if c == nil {
		c = &http.Client{Transport: boundedTransport{rt: http.DefaultTransport}}
	}
	return &http.Client{Transport: c.Transport, Jar: c.Jar, Timeout: c.Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// redirectTarget is where a redirect points, without any credentials in it.
func redirectTarget(res *http.Response) string {
	loc, err := res.Location()
	if err != nil {
		return "an address it did not give"
	}
	loc.User = nil
	return loc.Redacted()
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
// one go-git sends (same headers and authentication). A redirect of the
// POST is never followed (go-git refuses it too): it would resend the
// credentials, perhaps to another scheme or port; the push fails naming
// where the remote points, so the GitProvider's URL can be set to it.
func (rm *remote) receivePackHTTP(ctx context.Context, req *packp.ReferenceUpdateRequest, pack *os.File, size int64) (*packp.ReportStatus, error) {
	var cmds bytes.Buffer
	req.Packfile = nil // the commands alone: the pack follows from the file
	if err := req.Encode(&cmds); err != nil {
		return nil, err
	}
	// Each body reads the file through its own section: a retried request
	// never shares a read offset with the attempt before it.
	body := func() (io.ReadCloser, error) {
		return io.NopCloser(io.MultiReader(bytes.NewReader(cmds.Bytes()), io.NewSectionReader(pack, 0, size))), nil
	}
	rc, _ := body()
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
	if res.StatusCode >= 300 && res.StatusCode < 400 {
		return nil, fmt.Errorf("git: the remote redirected the push (HTTP %d) to %s: set the URL to where the repository is", res.StatusCode, redirectTarget(res))
	}
	if err := githttp.NewErr(res); err != nil {
		return nil, err
	}
	r, err := ioutil.NonEmptyReader(res.Body)
	if err == ioutil.ErrEmptyReader {
		if req.Capabilities.Supports(capability.ReportStatus) {
			// Asked for and not sent: nothing says the branch moved.
			return nil, errors.New("git: the remote answered the push without a report")
		}
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
