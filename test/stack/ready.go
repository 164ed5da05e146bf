package stack

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// APIService registers our server with the aggregator and tells when our API
// is usable through kube-apiserver; tests register it anew to see what a
// fresh install sees.
type APIService struct {
	s *Stack
}

// register points the aggregator at our server: an ExternalName Service to
// localhost (no kube-proxy here) and an APIService with our CA as caBundle.
func (a *APIService) register(ctx context.Context) error {
	s := a.s
	manifest := fmt.Sprintf(`apiVersion: v1
kind: Service
metadata:
  name: %[1]s
  namespace: %[2]s
spec:
  type: ExternalName
  externalName: localhost
  ports:
  - name: https
    port: %[3]d
---
apiVersion: apiregistration.k8s.io/v1
kind: APIService
metadata:
  name: %[4]s
spec:
  group: configbutler.ai
  version: v1alpha1
  groupPriorityMinimum: 1000
  versionPriority: 15
  caBundle: %[5]s
  service:
    name: %[1]s
    namespace: %[2]s
    port: %[3]d
`, LocalServiceName, ServerNamespace, s.Ports.Server, APIServiceName, base64.StdEncoding.EncodeToString(s.pki.serverCAPEM))
	s.logf("registering APIService %s", APIServiceName)
	return s.Apply(ctx, []byte(manifest))
}

// WaitAPIServiceAvailable waits until the aggregator reports the APIService Available.
func (a *APIService) WaitAPIServiceAvailable(ctx context.Context) error {
	s := a.s
	wctx, cancel := context.WithTimeout(ctx, 180*time.Second)
	defer cancel()
	return waitFor(wctx, s.Server, "APIService "+APIServiceName+" Available", func() error {
		out, err := s.Kubectl("get", "apiservice", APIServiceName, "-o",
			`jsonpath={.status.conditions[?(@.type=="Available")].status} {.status.conditions[?(@.type=="Available")].message}`)
		if err != nil {
			return fmt.Errorf("%v: %s", err, out)
		}
		if !strings.HasPrefix(out, "True") {
			return errors.New(out)
		}
		return nil
	})
}

// WaitAPIReady waits until a user can use our API through kube-apiserver, not
// only reach it: the APIService Available, our group in kube-apiserver's
// discovery (aggregated and legacy: kubectl get and api-resources read them),
// and our OpenAPI v3 document listed and served (kubectl explain and
// client-side validation read it). kube-apiserver fetches the last two from
// us asynchronously after Available; `kubectl explain` failed with "couldn't
// find resource" for about 2 s in that gap.
func (a *APIService) WaitAPIReady(ctx context.Context) error {
	if err := a.WaitAPIServiceAvailable(ctx); err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, 120*time.Second)
	defer cancel()
	return waitFor(wctx, a.s.Server, "configbutler.ai in kube-apiserver's discovery and OpenAPI v3", a.apiServed)
}

// apiServed checks, with raw requests (kubectl's caches would remember a miss),
// what WaitAPIReady waits for.
func (a *APIService) apiServed() error {
	s := a.s
	out, err := s.Kubectl("get", "--raw", "/apis/configbutler.ai/v1alpha1")
	if err != nil || !strings.Contains(out, `"gittargets"`) {
		return fmt.Errorf("group-version discovery: %v: %.200s", err, out)
	}
	out, err = s.Kubectl("get", "--raw", "/apis")
	if err != nil || !strings.Contains(out, `"configbutler.ai/v1alpha1"`) {
		return fmt.Errorf("/apis does not list configbutler.ai/v1alpha1 yet: %v", err)
	}
	out, err = s.Kubectl("get", "--raw", "/openapi/v3")
	if err != nil {
		return fmt.Errorf("/openapi/v3: %v: %.200s", err, out)
	}
	var root struct {
		Paths map[string]struct {
			ServerRelativeURL string `json:"serverRelativeURL"`
		} `json:"paths"`
	}
	if err := json.Unmarshal([]byte(out), &root); err != nil {
		return fmt.Errorf("/openapi/v3: %v", err)
	}
	p, ok := root.Paths["apis/configbutler.ai/v1alpha1"]
	if !ok || p.ServerRelativeURL == "" {
		return errors.New("/openapi/v3 does not list apis/configbutler.ai/v1alpha1 yet")
	}
	out, err = s.Kubectl("get", "--raw", p.ServerRelativeURL)
	if err != nil || !strings.Contains(out, "v1alpha1.GitTarget") {
		return fmt.Errorf("%s: %v: %.200s", p.ServerRelativeURL, err, out)
	}
	return nil
}

// ReregisterAPIService deletes our APIService and registers it again, as a
// fresh install does: kube-apiserver forgets our discovery and OpenAPI and
// fetches them anew.
func (a *APIService) ReregisterAPIService(ctx context.Context) error {
	s := a.s
	if out, err := s.Kubectl("delete", "apiservice", APIServiceName, "--wait=true"); err != nil {
		return fmt.Errorf("%v: %s", err, out)
	}
	wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if err := waitFor(wctx, s.Server, "configbutler.ai gone from discovery", func() error {
		if out, err := s.Kubectl("get", "--raw", "/apis"); err != nil || strings.Contains(out, `"configbutler.ai/v1alpha1"`) {
			return fmt.Errorf("still listed (%v)", err)
		}
		return nil
	}); err != nil {
		return err
	}
	return a.register(ctx)
}
