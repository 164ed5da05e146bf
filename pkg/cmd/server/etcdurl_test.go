package server

import (
	"strings"
	"testing"
)

func TestCheckEtcdServers(t *testing.T) {
	for _, tc := range []struct {
		servers []string
		refused bool
	}{
		// make run, test/stack, test/replicas: plain http on loopback.
		{[]string{"http://127.0.0.1:22379"}, false},
		{[]string{"http://127.0.0.2:2379"}, false},
		{[]string{"http://127.255.255.254:2379"}, false},
		{[]string{"http://[::1]:2379"}, false},
		{[]string{"http://localhost:2379"}, false},
		{[]string{"HTTP://LocalHost:2379"}, false},
		{[]string{"http://localhost.:2379"}, false},
		{[]string{"127.0.0.1:2379"}, false},
		{[]string{"localhost:2379"}, false},
		{[]string{"[::1]:2379"}, false},
		// TLS anywhere.
		{[]string{"https://gitops-reverser-etcd-0.gitops-reverser-etcd.gitops-reverser.svc:2379"}, false},
		{[]string{"https://10.96.0.51:2379", "https://etcd-1:2379"}, false},
		{[]string{"unix:///run/etcd.sock", "unixs://etcd.sock:0"}, false},
		{nil, false},
		// Plain http over a network.
		{[]string{"http://10.96.0.51:2379"}, true},
		{[]string{"http://gitops-reverser-etcd-0.gitops-reverser-etcd.gitops-reverser.svc:2379"}, true},
		{[]string{"http://0.0.0.0:2379"}, true},
		{[]string{"http://[::]:2379"}, true},
		{[]string{"http://[2001:db8::1]:2379"}, true},
		{[]string{"http://localhost.example.com:2379"}, true},
		{[]string{"http://127.0.0.1.nip.io:2379"}, true},
		{[]string{"https://etcd-0:2379", "http://etcd-1:2379"}, true},
		{[]string{"10.0.0.7:2379"}, true},
		{[]string{"etcd:2379"}, true},
		{[]string{"ftp://127.0.0.1:2379"}, true},
	} {
		err := checkEtcdServers(tc.servers)
		if (err != nil) != tc.refused {
			t.Errorf("%q: error %v, want refused=%v", tc.servers, err, tc.refused)
			continue
		}
		if err != nil && !strings.Contains(err.Error(), "--etcd-servers") {
			t.Errorf("%q: the error does not name the flag: %v", tc.servers, err)
		}
	}
	err := checkEtcdServers([]string{"http://10.96.0.51:2379"})
	for _, want := range []string{"https://", "--etcd-cafile", "--etcd-certfile", "--etcd-keyfile"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the error does not say %s: %v", want, err)
		}
	}
}
