package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
	"sigs.k8s.io/yaml"
)

type secretDoc struct {
	Kind     string                `json:"kind"`
	Metadata struct{ Name string } `json:"metadata"`
	Type     string                `json:"type"`
	Data     map[string]string     `json:"data"`
}

func render(t *testing.T, o options) map[string]map[string][]byte {
	t.Helper()
	var buf bytes.Buffer
	if err := run(&buf, o); err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string][]byte{}
	for _, doc := range strings.Split(buf.String(), "\n---\n") {
		var d secretDoc
		if err := yaml.Unmarshal([]byte(doc), &d); err != nil {
			t.Fatalf("%v:\n%s", err, doc)
		}
		if d.Kind != "Secret" {
			continue
		}
		if d.Type != "kubernetes.io/tls" {
			t.Errorf("Secret %s has type %q", d.Metadata.Name, d.Type)
		}
		data := map[string][]byte{}
		for k, v := range d.Data {
			b, err := base64.StdEncoding.DecodeString(v)
			if err != nil {
				t.Fatal(err)
			}
			data[k] = b
		}
		out[d.Metadata.Name] = data
	}
	return out
}

func parseCert(t *testing.T, b []byte) *x509.Certificate {
	t.Helper()
	blk, _ := pem.Decode(b)
	if blk == nil {
		t.Fatal("not PEM")
	}
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestEtcdSecrets: the etcd Secrets the plain manifests mount (the names
// ci/deploy-values.yaml gives the chart), their certificates valid for every
// name the server or a peer dials, and reissued when those names change.
func TestEtcdSecrets(t *testing.T) {
	dir := t.TempDir()
	o := options{dir: dir, ns: "ops", svc: "gitops-reverser", clusterDomain: "cluster.local", print: "all"}
	s := render(t, o)
	for _, name := range []string{"gitops-reverser-serving", "gitops-reverser-etcd-tls", "gitops-reverser-etcd-client"} {
		if s[name] == nil {
			t.Fatalf("no Secret %s: %v", name, s)
		}
	}
	etcdTLS, client := s["gitops-reverser-etcd-tls"], s["gitops-reverser-etcd-client"]
	if !bytes.Equal(etcdTLS["ca.crt"], client["ca.crt"]) {
		t.Fatal("etcd's and the client's ca.crt differ")
	}
	if bytes.Equal(etcdTLS["ca.crt"], s["gitops-reverser-serving"]["tls.crt"]) {
		t.Fatal("etcd shares a CA with the serving certificate")
	}
	roots := x509.NewCertPool()
	roots.AddCert(parseCert(t, etcdTLS["ca.crt"]))
	server := parseCert(t, etcdTLS["tls.crt"])
	for _, name := range []string{
		"gitops-reverser-etcd-0.gitops-reverser-etcd.ops.svc", // resolve=dns
		"gitops-reverser-etcd-2.gitops-reverser-etcd.ops.svc.cluster.local",
		"gitops-reverser-etcd-client.ops.svc",
		"localhost", "127.0.0.1",
	} {
		for _, usage := range []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth} { // a peer is both
			if _, err := server.Verify(x509.VerifyOptions{DNSName: name, Roots: roots, KeyUsages: []x509.ExtKeyUsage{usage}}); err != nil {
				t.Errorf("etcd's certificate for %s (usage %v): %v", name, usage, err)
			}
		}
	}
	if _, err := parseCert(t, client["tls.crt"]).Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("client certificate: %v", err)
	}
	if err := server.VerifyHostname("10.96.0.51"); err == nil {
		t.Fatal("etcd's certificate names 10.96.0.51 without -etcd-client-ip")
	}

	// Again: the same certificates; with the env mode's address: reissued
	// from the same CA.
	o.print = "etcd-secrets"
	again := render(t, o)
	if !bytes.Equal(again["gitops-reverser-etcd-tls"]["tls.crt"], etcdTLS["tls.crt"]) {
		t.Error("a second run made a new etcd certificate")
	}
	o.etcdClientIP = "10.96.0.51"
	env := render(t, o)
	if len(env) != 2 {
		t.Errorf("-print=etcd-secrets printed %d Secrets", len(env))
	}
	if !bytes.Equal(env["gitops-reverser-etcd-tls"]["ca.crt"], etcdTLS["ca.crt"]) {
		t.Error("-etcd-client-ip made a new CA")
	}
	if err := parseCert(t, env["gitops-reverser-etcd-tls"]["tls.crt"]).VerifyHostname("10.96.0.51"); err != nil {
		t.Errorf("-etcd-client-ip: %v", err)
	}
}

// TestEtcdMutualTLS runs etcd as the chart does (client and peer certificates
// required) with these Secrets: the client certificate reads and writes,
// nothing else does.
func TestEtcdMutualTLS(t *testing.T) {
	dir := t.TempDir()
	s := render(t, options{dir: filepath.Join(dir, "pki"), ns: "ops", svc: "gitops-reverser", clusterDomain: "cluster.local", print: "etcd-secrets"})
	files := map[string]string{}
	for secret, data := range s {
		for k, v := range data {
			f := filepath.Join(dir, secret+"-"+k)
			if err := os.WriteFile(f, v, 0o600); err != nil {
				t.Fatal(err)
			}
			files[secret+"/"+k] = f
		}
	}
	cfg := embed.NewConfig()
	cfg.Dir = filepath.Join(dir, "etcd")
	cfg.Logger = "zap"
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.NewNop())
	u := func(s string) []url.URL { v, _ := url.Parse(s); return []url.URL{*v} }
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = u("https://127.0.0.1:0"), u("https://127.0.0.1:0")
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = u("https://127.0.0.1:0"), u("https://127.0.0.1:0")
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	cfg.ClientTLSInfo.ClientCertAuth = true
	cfg.ClientTLSInfo.TrustedCAFile = files["gitops-reverser-etcd-tls/ca.crt"]
	cfg.ClientTLSInfo.CertFile = files["gitops-reverser-etcd-tls/tls.crt"]
	cfg.ClientTLSInfo.KeyFile = files["gitops-reverser-etcd-tls/tls.key"]
	cfg.PeerTLSInfo = cfg.ClientTLSInfo
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	select {
	case <-e.Server.ReadyNotify():
	case <-time.After(30 * time.Second):
		t.Fatal("etcd not ready")
	}
	addr := e.Clients[0].Addr().String()

	caPEM, _ := os.ReadFile(files["gitops-reverser-etcd-client/ca.crt"])
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(caPEM)
	pair, err := tls.LoadX509KeyPair(files["gitops-reverser-etcd-client/tls.crt"], files["gitops-reverser-etcd-client/tls.key"])
	if err != nil {
		t.Fatal(err)
	}
	put := func(tc *tls.Config) error {
		c, err := clientv3.New(clientv3.Config{Endpoints: []string{"https://" + addr}, TLS: tc, DialTimeout: 2 * time.Second, Logger: zap.NewNop()})
		if err != nil {
			return err
		}
		defer c.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_, err = c.Put(ctx, "/registry/configbutler.ai/x", "y")
		return err
	}
	if err := put(&tls.Config{RootCAs: roots, Certificates: []tls.Certificate{pair}}); err != nil {
		t.Fatalf("with the client certificate: %v", err)
	}
	if err := put(&tls.Config{RootCAs: roots}); err == nil {
		t.Fatal("etcd took a write without a client certificate")
	}
	// The raw refusal: the handshake completes (TLS 1.3), the first read
	// gets etcd's alert.
	conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: roots, ServerName: "localhost"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	conn.Write([]byte("GET /version HTTP/1.1\r\nHost: localhost\r\n\r\n"))
	_, err = conn.Read(make([]byte, 1))
	if err == nil || !strings.Contains(err.Error(), "certificate required") {
		t.Fatalf("reading without a client certificate: %v, want tls: certificate required", err)
	}
}
