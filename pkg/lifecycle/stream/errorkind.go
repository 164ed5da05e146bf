package stream

import (
	"errors"
	"io"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// errorKind is what a watch's error says of the stream.
type errorKind int

const (
	// routine: the watch closed or its position expired; the feed reopens it.
	routine errorKind = iota
	// typeGone: 404, the type is no longer served (its CRD deleted).
	typeGone
	// refusedFinal: 403, the server's own ClusterRole does not let it read
	// the type; only its targets are concerned, until the ClusterRole
	// changes.
	refusedFinal
	// refusedType: the cluster answered with an error for this type alone
	// (its conversion webhook or aggregated API is down: 500, 503, 429)
	// while it serves other reads; only its targets are concerned.
	refusedType
	// unreachable: no answer, the server's own credentials refused (401), or
	// an error the whole cluster gives (its storage down): every target is.
	unreachable
)

// kindOf classifies a watch error. serves checks whether the cluster serves
// other reads; it is called only for an error status that could be either
// the type's or the whole cluster's.
func kindOf(err error, serves func() error) errorKind {
	var status apierrors.APIStatus
	switch {
	case errors.Is(err, io.EOF) || apierrors.IsResourceExpired(err) || apierrors.IsGone(err):
		return routine
	case apierrors.IsNotFound(err):
		return typeGone
	case apierrors.IsForbidden(err):
		return refusedFinal
	case apierrors.IsUnauthorized(err) || !errors.As(err, &status):
		return unreachable
	case serves() == nil:
		return refusedType
	}
	return unreachable
}
