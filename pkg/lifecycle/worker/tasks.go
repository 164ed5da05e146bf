package worker

import (
	"context"
	"sync"

	"github.com/configbutler/gitops-reverser/pkg/lifecycle/mirror"
)

// task is work run on the worker goroutine.
type task struct {
	name string
	run  func(ctx context.Context)
}

// bootstrapRequest is one target's bootstrap, queued on its branch worker.
type bootstrapRequest struct {
	t           *mirror.Target
	fingerprint string
}

// taskList is the worker's queue of tasks (bootstraps, snapshots, a reopen
// of the clone, tests' own), run one at a time, in order, on the worker
// goroutine (BranchWorker.loop), before any flush. Bootstraps wait in a list
// of their own: the first of their tasks to run takes them all (one fetch,
// one commit).
//
// mu guards both lists; taskList calls nothing while it holds mu.
type taskList struct {
	mu         sync.Mutex
	list       []task
	bootstraps []bootstrapRequest
}

func (l *taskList) push(t task) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.list = append(l.list, t)
}

// pushBootstrap queues a bootstrap and the task that runs it, in one step:
// the task always finds its request (or an earlier task took it along).
func (l *taskList) pushBootstrap(r bootstrapRequest, t task) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.bootstraps = append(l.bootstraps, r)
	l.list = append(l.list, t)
}

// takeBootstraps returns every bootstrap queued so far.
func (l *taskList) takeBootstraps() []bootstrapRequest {
	l.mu.Lock()
	defer l.mu.Unlock()
	reqs := l.bootstraps
	l.bootstraps = nil
	return reqs
}

// next removes and returns the first task.
func (l *taskList) next() (task, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.list) == 0 {
		return task{}, false
	}
	t := l.list[0]
	l.list = l.list[1:]
	return t, true
}

func (l *taskList) empty() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.list) == 0
}
