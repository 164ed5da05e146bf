package gitserver

import (
	"net/http"
	"strings"
	"sync"
)

// requests counts the ref advertisements (GET .../info/refs) each repository
// served: every ls-remote, fetch and push starts with one, so a test can see
// how often the server under test probes a remote.
type requests struct {
	mu  sync.Mutex
	ads map[string]int // by repository directory ("name.git")
}

func (c *requests) note(r *http.Request) {
	repo, ok := strings.CutSuffix(strings.TrimPrefix(r.URL.Path, "/"), "/info/refs")
	if r.Method != http.MethodGet || !ok {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ads == nil {
		c.ads = map[string]int{}
	}
	c.ads[repo]++
}

func (c *requests) advertisements(repoDir string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ads[repoDir]
}

// Advertisements is how many ref advertisements (GET info/refs, the start
// of every ls-remote, fetch and push) repository name has served.
func (s *Server) Advertisements(name string) int {
	return s.requests.advertisements(repoDirName(name))
}
