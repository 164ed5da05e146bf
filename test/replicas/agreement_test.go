package replicas

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"
)

// agreement samples Ready on every live replica until stopped and reports
// readings where they disagreed while the target's state held still.
type agreement struct {
	stop     chan struct{}
	done     chan struct{}
	problems []string
	samples  int
	// stable counts samples whose two sweeps agreed (the conclusive ones).
	stable int
}

func watchAgreement(ns string, live func() []string) *agreement {
	a := &agreement{stop: make(chan struct{}), done: make(chan struct{})}
	// read reads Ready on each live replica, in name order (a replica that
	// does not answer, just killed, has no say).
	read := func(names []string) []string {
		var out []string
		for _, name := range names {
			if v, err := readTarget(replicas[name].Kubeconfig, ns); err == nil {
				out = append(out, name+"="+v.Ready)
			}
		}
		return out
	}
	differ := func(r []string) bool {
		if len(r) == 0 {
			return false
		}
		for _, v := range r[1:] {
			if strings.SplitN(v, "=", 2)[1] != strings.SplitN(r[0], "=", 2)[1] {
				return true
			}
		}
		return false
	}
	go func() {
		defer close(a.done)
		for {
			select {
			case <-a.stop:
				return
			case <-time.After(300 * time.Millisecond):
			}
			names := live()
			sort.Strings(names)
			// One kubectl read takes ~100 ms, and during a takeover the gates
			// pass in a few ms each: replicas read one after the other can see
			// different moments. Two identical sweeps mean the state held still
			// for the whole sample; only then is a difference a disagreement.
			r1 := read(names)
			r2 := read(names)
			a.samples++
			if !slices.Equal(r1, r2) {
				continue
			}
			a.stable++
			if differ(r1) {
				a.problems = append(a.problems, fmt.Sprint(r1))
			}
		}
	}()
	return a
}

func (a *agreement) Stop() []string { close(a.stop); <-a.done; return a.problems }
