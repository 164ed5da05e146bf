package replicas

import (
	"io"
	"net"
	"sync"
)

// etcdProxy forwards TCP to etcd until Cut, which drops every connection and
// refuses new ones (a network partition of the replica behind it).
type etcdProxy struct {
	l      net.Listener
	target string
	mu     sync.Mutex
	cut    bool
	conns  []net.Conn
}

func newEtcdProxy(target string) (*etcdProxy, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &etcdProxy{l: l, target: target}
	go p.serve()
	return p, nil
}

func (p *etcdProxy) Addr() string { return p.l.Addr().String() }
func (p *etcdProxy) Close()       { p.l.Close(); p.Cut() }

func (p *etcdProxy) serve() {
	for {
		c, err := p.l.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.cut {
			p.mu.Unlock()
			c.Close()
			continue
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			p.mu.Unlock()
			c.Close()
			continue
		}
		p.conns = append(p.conns, c, up)
		p.mu.Unlock()
		go func() { _, _ = io.Copy(up, c); up.Close() }()
		go func() { _, _ = io.Copy(c, up); c.Close() }()
	}
}

// Cut partitions the replica behind the proxy from etcd.
func (p *etcdProxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = true
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// Heal lets it reconnect.
func (p *etcdProxy) Heal() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = false
}
