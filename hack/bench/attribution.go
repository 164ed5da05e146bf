package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/configbutler/gitops-reverser/pkg/pki"
)

// withoutAttribution restarts kube-apiserver without its audit webhook and
// our server without reporters (commits authored by field managers, nothing
// waits for a report), once.
func (e *env) withoutAttribution(ctx context.Context) error {
	if e.st.AuditOff {
		return nil
	}
	e.st.StopKubeAPIServer()
	e.st.AuditOff = true
	if err := e.st.StartKubeAPIServer(ctx); err != nil {
		return err
	}
	e.st.StopServer()
	if err := e.st.StartServer(ctx, "--attribution-reporters="); err != nil {
		return err
	}
	if err := e.st.WaitAPIServiceAvailable(ctx); err != nil {
		return err
	}
	return e.waitTargetReady(ctx, 5*time.Minute)
}

// benchStreamWithoutAttribution: the stream again, with no attribution at
// all: what attribution costs.
func (e *env) benchStreamWithoutAttribution(ctx context.Context) error {
	if err := e.withoutAttribution(ctx); err != nil {
		return err
	}
	return e.benchStream(ctx, "attribution off")
}

// benchStreamWithAdmissionWebhook: the stream with the alternative design
// the README weighs, a validating admission webhook (failurePolicy Ignore)
// that sees every write: here one that only allows, served on loopback, so
// the figure is the least such a webhook costs every write in the cluster.
func (e *env) benchStreamWithAdmissionWebhook(ctx context.Context) error {
	if err := e.withoutAttribution(ctx); err != nil {
		return err
	}
	ca, err := pki.NewCA("bench-webhook-ca")
	if err != nil {
		return err
	}
	cert, err := ca.Issue(pki.Request{CommonName: "bench-webhook", Server: true, IPs: []net.IP{net.ParseIP("127.0.0.1")}})
	if err != nil {
		return err
	}
	pair, err := tls.X509KeyPair(cert.CertPEM(), cert.KeyPEM())
	if err != nil {
		return err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{TLSConfig: &tls.Config{Certificates: []tls.Certificate{pair}}, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var review admissionv1.AdmissionReview
		if err := json.NewDecoder(r.Body).Decode(&review); err != nil || review.Request == nil {
			http.Error(w, "not an AdmissionReview", http.StatusBadRequest)
			return
		}
		// Where attribution would note review.Request.UserInfo.
		review.Response = &admissionv1.AdmissionResponse{UID: review.Request.UID, Allowed: true}
		review.Request = nil
		_ = json.NewEncoder(w).Encode(review)
	})}
	go func() { _ = srv.ServeTLS(l, "", "") }()
	defer srv.Close()

	url := fmt.Sprintf("https://%s/validate", l.Addr())
	ignore, none, timeout := admissionregistrationv1.Ignore, admissionregistrationv1.SideEffectClassNone, int32(5)
	cfg := &admissionregistrationv1.ValidatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "bench-attribution"},
		Webhooks: []admissionregistrationv1.ValidatingWebhook{{
			Name:         "attribution.bench.configbutler.ai",
			ClientConfig: admissionregistrationv1.WebhookClientConfig{URL: &url, CABundle: ca.CertPEM()},
			Rules: []admissionregistrationv1.RuleWithOperations{{
				Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create, admissionregistrationv1.Update, admissionregistrationv1.Delete},
				Rule:       admissionregistrationv1.Rule{APIGroups: []string{"*"}, APIVersions: []string{"*"}, Resources: []string{"*"}},
			}},
			FailurePolicy: &ignore, SideEffects: &none, TimeoutSeconds: &timeout, AdmissionReviewVersions: []string{"v1"},
		}},
	}
	hooks := e.kube.AdmissionregistrationV1().ValidatingWebhookConfigurations()
	if _, err := hooks.Create(ctx, cfg, metav1.CreateOptions{}); err != nil {
		return err
	}
	defer hooks.Delete(context.Background(), cfg.Name, metav1.DeleteOptions{})
	// kube-apiserver picks the configuration up from its informer.
	time.Sleep(3 * time.Second)
	return e.benchStream(ctx, "admission webhook")
}
