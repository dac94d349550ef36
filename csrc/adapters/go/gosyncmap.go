//go:build gosyncmap

package main

// gosyncmap: Go's sync.Map.
//
// Go 1.19's sync.Map has Load, Store, LoadOrStore, LoadAndDelete, Delete and Range,
// but no Swap, CompareAndSwap or CompareAndDelete (Go 1.20). A put that must say
// which value it replaced cannot be built from Store alone, so each key maps to a
// slot created once with LoadOrStore; the slot's atomic pointer is the key's
// register and every operation takes effect at one atomic step on it:
//
//	get            Load the slot, load its box
//	put            LoadOrStore a new slot; if one was there, Swap its box
//	put_if_absent  LoadOrStore a new slot; if one was there, CAS a box into it
//	               while it holds the deleted marker
//	delete         Load the slot, Swap the deleted marker in
//	len, iterate   Range over the slots, skipping deleted ones
//
// Slots are never removed: without CompareAndDelete, removing a deleted slot would
// race a put that is reviving it. len from Range is not exact while writers run
// (Range is no snapshot), hence no MF_CAP_EXACT_LEN.
//
// Variants (create's variant argument; 0 is the correct map):
//   1 load-then-store   put_if_absent: Load, then a blind Store
//   2 load-then-delete  delete: Load the value, then LoadAndDelete; returns what
//                       the Load saw
//   3 range-len         len counts the slots Range yields, deleted ones too
// Each variant's code opens with a comment naming the mistake and the finding.

import (
	"sync"
	"sync/atomic"
)

func init() {
	targetName = "gosyncmap"
	// multi-writer, put_if_absent, iterate (len is not exact)
	targetCaps = 1 | 2 | 4
	variantList = []string{"load-then-store", "load-then-delete", "range-len"}
	newTarget = func(variant, capacity int) target { return &gosyncmap{variant: variant} }
}

const (
	smCorrect = iota
	smLoadThenStore
	smLoadThenDelete
	smRangeLen
)

type box struct{ v any }

// deleted marks a slot whose key is absent.
var deleted = &box{}

type slot struct{ p atomic.Pointer[box] }

func newSlot(v any) *slot {
	s := &slot{}
	s.p.Store(&box{v})
	return s
}

type gosyncmap struct {
	m       sync.Map // key -> *slot
	variant int
}

// live returns the key's current box, or nil when it is absent.
func (g *gosyncmap) live(k any) (*slot, *box) {
	s, ok := g.m.Load(k)
	if !ok {
		return nil, nil
	}
	sl := s.(*slot)
	if b := sl.p.Load(); b != deleted {
		return sl, b
	}
	return sl, nil
}

func (g *gosyncmap) op(kind, step int, k, v any) (int, any, bool) {
	switch kind {
	case opGet:
		if _, b := g.live(k); b != nil {
			return 1, b.v, true
		}
		return 0, nil, false
	case opPut:
		s, loaded := g.m.LoadOrStore(k, newSlot(v))
		if !loaded {
			return 0, nil, false
		}
		if old := s.(*slot).p.Swap(&box{v}); old != deleted {
			return 1, old.v, true
		}
		return 0, nil, false
	case opPutIfAbsent:
		if g.variant == smLoadThenStore {
			return g.loadThenStore(step, k, v)
		}
		s, loaded := g.m.LoadOrStore(k, newSlot(v))
		if !loaded {
			return 1, nil, false
		}
		sl := s.(*slot)
		nb := &box{v}
		for {
			cur := sl.p.Load()
			if cur != deleted {
				return 0, cur.v, true
			}
			if sl.p.CompareAndSwap(deleted, nb) {
				return 1, nil, false
			}
		}
	case opDelete:
		if g.variant == smLoadThenDelete {
			return g.loadThenDelete(step, k)
		}
		s, ok := g.m.Load(k)
		if !ok {
			return 0, nil, false
		}
		if old := s.(*slot).p.Swap(deleted); old != deleted {
			return 1, old.v, true
		}
		return 0, nil, false
	}
	return errBadOp, nil, false
}

// loadThenStore is put_if_absent of the load-then-store variant.
func (g *gosyncmap) loadThenStore(step int, k, v any) (int, any, bool) {
	// load-then-store: "if _, ok := m.Load(k); !ok { m.Store(k, v) }", the pattern
	// LoadOrStore exists to replace: two callers that both saw the key absent both
	// store and both report an insert. Expected: lost-write in controlled mode
	// (the schedule point between Load and Store).
	if step == 0 {
		if _, b := g.live(k); b != nil {
			return 0, b.v, true
		}
		return stepPoint, nil, false
	}
	g.m.Store(k, newSlot(v))
	return 1, nil, false
}

// loadThenDelete is delete of the load-then-delete variant.
func (g *gosyncmap) loadThenDelete(step int, k any) (int, any, bool) {
	// load-then-delete: "v, ok := m.Load(k); if ok { m.LoadAndDelete(k); return v }":
	// the value returned is the one Load saw, not the one LoadAndDelete removed, so
	// a put between the two is deleted unreported. Expected: lost-write or
	// stale-read in controlled mode (the schedule point between Load and
	// LoadAndDelete).
	if step == 0 {
		if _, b := g.live(k); b != nil {
			return stepPoint, b.v, true // the caller's copy of what it saw
		}
		return 0, nil, false
	}
	if s, ok := g.m.LoadAndDelete(k); ok {
		s.(*slot).p.Store(deleted)
	}
	return 1, nil, false // the old value is what step 0 copied out
}

func (g *gosyncmap) length() int64 {
	n := int64(0)
	g.m.Range(func(_, s any) bool {
		// range-len: counting what Range yields, forgetting that a deleted key is
		// still there as an entry holding the deleted marker (sync.Map's own Range
		// skips its nil and expunged entries for the same reason). Expected:
		// len-mismatch at quiescence after any delete, in either mode.
		if g.variant == smRangeLen || s.(*slot).p.Load() != deleted {
			n++
		}
		return true
	})
	return n
}

func (g *gosyncmap) each(visit func(k, v any) bool) {
	g.m.Range(func(k, s any) bool {
		if b := s.(*slot).p.Load(); b != deleted {
			return visit(k, b.v)
		}
		return true
	})
}

// check: every slot holds a box (quiescent).
func (g *gosyncmap) check() string {
	problem := ""
	g.m.Range(func(_, s any) bool {
		if s.(*slot).p.Load() == nil {
			problem = "a slot holds no box"
			return false
		}
		return true
	})
	return problem
}
