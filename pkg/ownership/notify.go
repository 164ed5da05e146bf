package ownership

import "sync"

// callbacks are the functions registered through OnChange, OnLockChange and
// OnLost. mu guards the lists and nothing else; the callbacks run without
// it, in the order they were registered, so they may call back into the
// Manager.
type callbacks struct {
	mu           sync.Mutex
	onChange     []func()
	onLockChange []func()
	onLost       []func()
}

func (c *callbacks) addChange(f func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.onChange = append(c.onChange, f)
}

func (c *callbacks) addLockChange(f func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.onLockChange = append(c.onLockChange, f)
}

func (c *callbacks) addLost(f func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.onLost = append(c.onLost, f)
}

// changed runs the OnChange callbacks.
func (c *callbacks) changed() { c.run(&c.onChange) }

// locksChanged runs the OnLockChange callbacks.
func (c *callbacks) locksChanged() { c.run(&c.onLockChange) }

// run runs the callbacks of one list, outside mu.
func (c *callbacks) run(list *[]func()) {
	c.mu.Lock()
	fs := append([]func(){}, *list...)
	c.mu.Unlock()
	for _, f := range fs {
		f()
	}
}

// lost runs the OnLost callbacks.
func (c *callbacks) lost() { c.run(&c.onLost) }
