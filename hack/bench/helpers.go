package main

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// --- shared helpers ---------------------------------------------------------

func rawClient(c *rest.Config) rest.Interface {
	return kubernetes.NewForConfigOrDie(c).CoreV1().RESTClient()
}

// parallel runs fn(0..n-1) on workers goroutines and returns the first error.
func parallel(n, workers int, fn func(i int) error) error {
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	next := make(chan int)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := fn(i); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
				}
			}
		}()
	}
	for i := 0; i < n; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
	return first
}

// paced calls send(k) for k = 1, 2, ... at start + (k-1)/rate, from workers
// goroutines, until start+d, and returns once every call has returned.
func paced(start time.Time, rate int, d time.Duration, workers int, send func(k int)) {
	var seq atomic.Int64
	end := start.Add(d)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				k := int(seq.Add(1))
				at := start.Add(time.Duration(float64(k-1) / float64(rate) * float64(time.Second)))
				if at.After(end) {
					return
				}
				time.Sleep(time.Until(at))
				send(k)
			}
		}()
	}
	wg.Wait()
}

func poll(ctx context.Context, timeout time.Duration, fn func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := fn()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}
