package history

import "strings"

// trailers are the attribution trailers of a commit (pkg/commitstyle writes
// them in the message's last paragraph).
type trailers struct {
	user, fieldManager, impersonator, verb string
}

// The trailer keys read.
const (
	trailerUser         = "Kubernetes-User"
	trailerFieldManager = "Kubernetes-Field-Manager"
	trailerImpersonator = "Kubernetes-Impersonator"
	trailerVerb         = "Kubernetes-Verb"
)

// parseTrailers reads the trailers of a message: "Key: value" lines of its
// last paragraph, when it has more than one (git never reads the subject as
// trailers). Keys are matched without regard to case, as git does; intern
// shares the values.
func parseTrailers(msg string, intern func(string) string) trailers {
	var t trailers
	msg = strings.TrimRight(msg, " \t\r\n")
	i := strings.LastIndex(msg, "\n\n")
	if i < 0 {
		return t
	}
	for line := range strings.SplitSeq(msg[i+2:], "\n") {
		key, value, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		value = strings.TrimSpace(value)
		var dst *string
		switch key = strings.TrimSpace(key); {
		case strings.EqualFold(key, trailerUser):
			dst = &t.user
		case strings.EqualFold(key, trailerFieldManager):
			dst = &t.fieldManager
		case strings.EqualFold(key, trailerImpersonator):
			dst = &t.impersonator
		case strings.EqualFold(key, trailerVerb):
			dst = &t.verb
		default:
			continue
		}
		if *dst == "" {
			*dst = intern(value)
		}
	}
	return t
}
