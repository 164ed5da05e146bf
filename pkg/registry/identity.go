package registry

import (
	"context"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"

	"github.com/configbutler/gitops-reverser/pkg/apis/configbutler"
)

// identityFrom is the requesting user as status.authorizedBy records it: the
// user the server authorized a create or spec change for (see pkg/tenancy).
// The server always takes it from the request, never from the client's
// object.
func identityFrom(ctx context.Context) *configbutler.AuthorizedIdentity {
	u, ok := genericapirequest.UserFrom(ctx)
	if !ok || u == nil {
		return nil
	}
	now := metav1.NewTime(time.Now().UTC().Truncate(time.Second))
	id := &configbutler.AuthorizedIdentity{Username: u.GetName(), UID: u.GetUID(), Time: &now}
	if g := u.GetGroups(); len(g) > 0 {
		id.Groups = append([]string(nil), g...)
	}
	if e := u.GetExtra(); len(e) > 0 {
		id.Extra = make(map[string][]string, len(e))
		for k, v := range e {
			id.Extra[k] = append([]string(nil), v...)
		}
	}
	return id
}
