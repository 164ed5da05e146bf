package attribution

import (
	"io"
	"net/http"
	"time"

	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apiserver/pkg/authentication/user"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/klog/v2"

	"github.com/configbutler/gitops-reverser/pkg/metrics"
)

// Path is where kube-apiserver's audit webhook posts (see the README).
const Path = "/attribution/v1/audit"

// maxBody bounds one report batch.
const maxBody = 64 << 20

// Handler receives kube-apiserver's audit batches. It runs behind the
// server's delegated authentication (kube-apiserver presents a client
// certificate of the configured reporter identity) and accepts only the
// reporters: a report from anyone else is refused, so nobody can make a
// commit carry someone else's name.
func Handler(store Adder, reporters sets.Set[string]) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, ok := genericapirequest.UserFrom(r.Context())
		switch {
		case !ok || u.GetName() == "" || u.GetName() == user.Anonymous:
			metrics.AttributionReports.WithLabelValues("refused").Inc()
			http.Error(w, "authentication required", http.StatusUnauthorized)
			return
		case !reporters.Has(u.GetName()):
			metrics.AttributionReports.WithLabelValues("refused").Inc()
			klog.InfoS("Refused an attribution report from a user who is not a reporter", "user", u.GetName())
			http.Error(w, "only kube-apiserver reports writes here", http.StatusForbidden)
			return
		case r.Method != http.MethodPost:
			http.Error(w, "POST audit.k8s.io/v1 EventLists", http.StatusMethodNotAllowed)
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, maxBody))
		if err != nil {
			http.Error(w, "reading the report", http.StatusBadRequest)
			return
		}
		reports, err := ParseEvents(body, time.Now())
		if err != nil {
			metrics.AttributionReports.WithLabelValues("invalid").Inc()
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		store.Add(reports...)
		metrics.AttributionReports.WithLabelValues("accepted").Inc()
		w.WriteHeader(http.StatusOK)
	})
}
