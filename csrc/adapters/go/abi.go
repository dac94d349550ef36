package main

// The target ABI (csrc/mapfuzz_target.h) on top of a Go map.
//
// shim.c holds the mf_target table; its functions call the exported Go functions
// below. A map lives on the Go side behind a cgo.Handle. One operation may take
// several steps: a step that returns stepPoint asks the C side to call the host's
// schedule point and then the next step. The point is called from C with no Go
// frame on the stack and no Go lock held, because the host may park the thread
// there (controlled mode) or unwind it with longjmp (an aborted run): neither may
// happen inside Go. Controlled mode therefore interleaves whole steps; what
// happens inside one step (the runtime's map code) is reachable only in stress
// mode, where threads run free.

/*
#include <stdint.h>
#include <stdlib.h>
#include "mapfuzz_target.h"

int mfgo_call_visit(mf_visit visit, void *ctx, const uint8_t *k, size_t kl,
                    const uint8_t *v, size_t vl);
*/
import "C"

import (
	"runtime/cgo"
	"strings"
	"unsafe"
)

// Operation kinds, as shim.c numbers them.
const (
	opGet = iota
	opPut
	opPutIfAbsent
	opDelete
)

// stepPoint is the return of a step after which the host's schedule point runs.
const stepPoint = 100

// errBadOp is returned for an operation kind the adapter does not know.
const errBadOp = -22

// target is one map implementation (gomap.go or gosyncmap.go, by build tag).
type target interface {
	// op runs step `step` of operation `kind` on key k (v is the decoded value of
	// put and put_if_absent). It returns the ABI's result code, or stepPoint, and
	// a value to copy into the output buffer when `out` is true (a later step may
	// leave the buffer as an earlier one filled it).
	op(kind, step int, k, v any) (rc int, val any, out bool)
	length() int64
	each(visit func(k, v any) bool)
	check() string
}

// Provided by the file the build tag selects.
var (
	targetName  string
	targetCaps  uint32
	variantList []string
	newTarget   func(variant int, capacity int) target
)

//export mfgoName
func mfgoName() *C.char { return C.CString(targetName) }

//export mfgoCaps
func mfgoCaps() C.uint32_t { return C.uint32_t(targetCaps) }

//export mfgoVariants
func mfgoVariants() *C.char { return C.CString(strings.Join(variantList, "\n")) }

//export mfgoCreate
func mfgoCreate(variant C.uint32_t, capacity C.size_t) C.uintptr_t {
	if int(variant) > len(variantList) {
		return 0
	}
	return C.uintptr_t(cgo.NewHandle(newTarget(int(variant), int(capacity))))
}

//export mfgoDestroy
func mfgoDestroy(h C.uintptr_t) { cgo.Handle(h).Delete() }

func get(h C.uintptr_t) target { return cgo.Handle(h).Value().(target) }

//export mfgoOp
func mfgoOp(h C.uintptr_t, kind, step C.int, key unsafe.Pointer, klen C.size_t,
	val unsafe.Pointer, vlen C.size_t, out unsafe.Pointer, outlen *C.size_t) C.int {
	if kind < opGet || kind > opDelete {
		return errBadOp
	}
	k := decodeKey(cbytes(key, int(klen)))
	var v any
	if kind == opPut || kind == opPutIfAbsent {
		v = decodeValue(cbytes(val, int(vlen)))
	}
	rc, res, copyOut := get(h).op(int(kind), int(step), k, v)
	if copyOut && out != nil {
		*outlen = C.size_t(encodeValue(res, cbytes(out, maxValue)))
	}
	return C.int(rc)
}

//export mfgoLen
func mfgoLen(h C.uintptr_t) C.int64_t { return C.int64_t(get(h).length()) }

//export mfgoIterate
func mfgoIterate(h C.uintptr_t, visit C.mf_visit, ctx unsafe.Pointer) C.int {
	var kb [maxKey]byte
	var vb [maxValue]byte
	get(h).each(func(k, v any) bool {
		kn := encodeKey(k, kb[:])
		vn := encodeValue(v, vb[:])
		return C.mfgo_call_visit(visit, ctx, (*C.uint8_t)(&kb[0]), C.size_t(kn),
			(*C.uint8_t)(&vb[0]), C.size_t(vn)) == 0
	})
	return 0
}

//export mfgoCheck
func mfgoCheck(h C.uintptr_t, msg *C.char, capacity C.size_t) C.int {
	problem := get(h).check()
	if problem == "" {
		return 0
	}
	if capacity > 0 {
		dst := cbytes(unsafe.Pointer(msg), int(capacity))
		n := copy(dst[:len(dst)-1], problem)
		dst[n] = 0
	}
	return 1
}

func main() {}
