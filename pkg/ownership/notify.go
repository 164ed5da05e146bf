package ownership

import "sync"

// callbacks are the functions registered through OnChange and OnLost. mu
// guards both lists and nothing else; the callbacks run without it, in the
// order they were registered, so they may call back into the Manager.
type callbacks struct {
	mu       sync.Mutex
	onChange []func()
	onLost   []func()
}

func (c *callbacks) addChange(f func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.onChange = append(c.onChange, f)
}

func (c *callbacks) addLost(f func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.onLost = append(c.onLost, f)
}

// changed runs the OnChange callbacks.
func (c *callbacks) changed() {
	c.mu.Lock()
	fs := append([]func(){}, c.onChange...)
	c.mu.Unlock()
	for _, f := range fs {
		f()
	}
}

// lost runs the OnLost callbacks.
func (c *callbacks) lost() {
	c.mu.Lock()
	fs := append([]func(){}, c.onLost...)
	c.mu.Unlock()
	for _, f := range fs {
		f()
	}
}
