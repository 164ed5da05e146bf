package replicas

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// streamer keeps updating ConfigMaps cm-0..cm-(n-1) and remembers the last
// value written to each.
type streamer struct {
	ns    string
	n     int
	stop  chan struct{}
	done  chan struct{}
	mu    sync.Mutex
	last  map[string]string
	count atomic.Int64
}

func startStreamer(t *testing.T, ns string, n int) *streamer {
	s := &streamer{ns: ns, n: n, stop: make(chan struct{}), done: make(chan struct{}), last: map[string]string{}}
	ctx := context.Background()
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("cm-%d", i)
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Data: map[string]string{"v": "0"}}
		if _, err := kube.CoreV1().ConfigMaps(ns).Create(ctx, cm, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		s.last[name] = "0"
	}
	go func() {
		defer close(s.done)
		for i := 1; ; i++ {
			select {
			case <-s.stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			name := fmt.Sprintf("cm-%d", i%n)
			v := fmt.Sprint(i)
			patch := fmt.Sprintf(`{"data":{"v":%q}}`, v)
			if _, err := kube.CoreV1().ConfigMaps(ns).Patch(ctx, name, "application/merge-patch+json", []byte(patch), metav1.PatchOptions{}); err == nil {
				s.mu.Lock()
				s.last[name] = v
				s.mu.Unlock()
				s.count.Add(1)
			}
		}
	}()
	return s
}

func (s *streamer) Stop() map[string]string {
	close(s.stop)
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]string{}
	for k, v := range s.last {
		out[k] = v
	}
	return out
}
