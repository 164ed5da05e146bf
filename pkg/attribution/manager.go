package attribution

import (
	"net/url"
	"strings"

	"github.com/configbutler/gitops-reverser/pkg/commitstyle"
)

// maxManager is kube-apiserver's bound on a field manager's length.
const maxManager = 128

// fieldManager is the field manager kube-apiserver records for a write: the
// request's fieldManager parameter, else its user agent up to the first "/"
// (handlers.managerOrUserAgent), bounded and cleaned like any name a
// writer chooses.
func fieldManager(requestURI, userAgent string) string {
	m := ""
	if _, query, ok := strings.Cut(requestURI, "?"); ok {
		if q, err := url.ParseQuery(query); err == nil {
			m = q.Get("fieldManager")
		}
	}
	if m == "" {
		m, _, _ = strings.Cut(userAgent, "/")
	}
	m = commitstyle.Clean(m)
	if len(m) > maxManager {
		m = m[:maxManager]
	}
	return m
}

// cleanGroups keeps at most commitstyle.MaxGroups groups, cleaned (nil for
// none).
func cleanGroups(groups []string) []string {
	if len(groups) == 0 {
		return nil
	}
	out := make([]string, 0, min(len(groups), commitstyle.MaxGroups))
	for _, g := range groups[:min(len(groups), commitstyle.MaxGroups)] {
		if g = commitstyle.Clean(g); g != "" {
			out = append(out, g)
		}
	}
	return out
}
