//go:build gomap

package main

// gomap: Go's runtime map, map[any]any, behind a sync.RWMutex.
//
// Correct: get, len and iterate take the read lock; put, put_if_absent and delete
// the write lock, each for the whole operation (one step). The runtime's map is
// not safe for concurrent writers: it marks a write in progress in the map header
// and throws "fatal error: concurrent map writes" (or "concurrent map read and map
// write", "concurrent map iteration and map write") when it sees a second access
// during one. That check is best effort, so it fires only sometimes.
//
// Variants (create's variant argument; 0 is the correct map):
//   1 no-lock                 no locking at all
//   2 rlock-for-write         writers take the read lock
//   3 cell-update-under-rlock values are *cell; a put of a present key replaces the
//                             cell's interface under the read lock only
//   4 check-then-act          put_if_absent: read-locked lookup, then a write-locked
//                             store that does not look again
// Each variant's code opens with a comment naming the mistake and the finding.

import "sync"

func init() {
	targetName = "gomap"
	// multi-writer, put_if_absent, iterate, exact len
	targetCaps = 1 | 2 | 4 | 8
	variantList = []string{"no-lock", "rlock-for-write", "cell-update-under-rlock",
		"check-then-act"}
	newTarget = func(variant, capacity int) target {
		return &gomap{m: make(map[any]any, capacity), variant: variant}
	}
}

const (
	gmCorrect = iota
	gmNoLock
	gmRLockForWrite
	gmCellUnderRLock
	gmCheckThenAct
)

type gomap struct {
	mu      sync.RWMutex
	m       map[any]any // values are the decoded values; *cell in cell-update-under-rlock
	variant int
}

// cell is the value box of the cell-update-under-rlock variant.
type cell struct{ v any }

func (g *gomap) rlock() func() {
	// no-lock: the runtime map without any lock, the first mistake anyone makes
	// with a map shared by goroutines. Expected: a crash finding in stress mode
	// carrying Go's "fatal error: concurrent map writes" (or "... read and map
	// write", "... iteration and map write").
	if g.variant == gmNoLock {
		return func() {}
	}
	g.mu.RLock()
	return g.mu.RUnlock
}

func (g *gomap) lock() func() {
	switch g.variant {
	case gmNoLock:
		return func() {}
	case gmRLockForWrite:
		// rlock-for-write: writers take RLock (the "it is only a small update"
		// mistake), so two writers mutate the runtime map at once. Expected: a
		// crash finding in stress mode, "fatal error: concurrent map writes".
		g.mu.RLock()
		return g.mu.RUnlock
	}
	g.mu.Lock()
	return g.mu.Unlock
}

func (g *gomap) load(k any) (any, bool) {
	v, ok := g.m[k]
	if ok && g.variant == gmCellUnderRLock {
		return v.(*cell).v, true
	}
	return v, ok
}

func (g *gomap) store(k, v any) {
	if g.variant == gmCellUnderRLock {
		v = &cell{v}
	}
	g.m[k] = v
}

func (g *gomap) op(kind, step int, k, v any) (int, any, bool) {
	switch kind {
	case opGet:
		unlock := g.rlock()
		cur, ok := g.load(k)
		unlock()
		return b2i(ok), cur, ok
	case opPut:
		if g.variant == gmCellUnderRLock {
			if old, ok := g.putInPlace(k, v); ok {
				return 1, old, true
			}
		}
		unlock := g.lock()
		old, ok := g.load(k)
		g.store(k, v)
		unlock()
		return b2i(ok), old, ok
	case opPutIfAbsent:
		if g.variant == gmCheckThenAct {
			return g.checkThenAct(step, k, v)
		}
		unlock := g.lock()
		defer unlock()
		if cur, ok := g.load(k); ok {
			return 0, cur, true
		}
		g.store(k, v)
		return 1, nil, false
	case opDelete:
		unlock := g.lock()
		old, ok := g.load(k)
		delete(g.m, k)
		unlock()
		return b2i(ok), old, ok
	}
	return errBadOp, nil, false
}

// putInPlace is put of a present key in cell-update-under-rlock.
func (g *gomap) putInPlace(k, v any) (any, bool) {
	// cell-update-under-rlock: the map's structure is not changed, so the writer
	// "only" updates the cell it found, under the read lock. An interface is two
	// words (type, data); a reader copying c.v while a writer stores it can get the
	// type of one value and the data of another, and the race detector is the only
	// Go tool that would say so. Expected: torn-value (or phantom-value) in stress
	// mode; readers and writers of one key overlap in the same step only there.
	g.mu.RLock()
	defer g.mu.RUnlock()
	c, ok := g.m[k]
	if !ok {
		return nil, false
	}
	box := c.(*cell)
	old := box.v
	box.v = v
	return old, true
}

// checkThenAct is put_if_absent of the check-then-act variant.
func (g *gomap) checkThenAct(step int, k, v any) (int, any, bool) {
	// check-then-act: put_if_absent looks under the read lock, lets it go, and
	// stores under the write lock without looking again; two callers that both saw
	// the key absent both insert. Expected: lost-write in controlled mode (the
	// schedule point between the two steps is where another thread gets in).
	if step == 0 {
		g.mu.RLock()
		cur, ok := g.m[k]
		g.mu.RUnlock()
		if ok {
			return 0, cur, true
		}
		return stepPoint, nil, false
	}
	g.mu.Lock()
	g.m[k] = v
	g.mu.Unlock()
	return 1, nil, false
}

func (g *gomap) length() int64 {
	unlock := g.rlock()
	defer unlock()
	return int64(len(g.m))
}

func (g *gomap) each(visit func(k, v any) bool) {
	unlock := g.rlock()
	defer unlock()
	for k := range g.m {
		v, _ := g.load(k)
		if !visit(k, v) {
			return
		}
	}
}

// check (quiescent): len(m) matches the keys range yields, and in the cell
// variant every value is a cell.
func (g *gomap) check() string {
	n := 0
	for _, v := range g.m {
		n++
		if _, isCell := v.(*cell); isCell != (g.variant == gmCellUnderRLock) {
			return "a value is boxed in a cell where it should not be, or the reverse"
		}
	}
	if n != len(g.m) {
		return "len(m) differs from the number of keys range yields"
	}
	return ""
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
