package main

// Keys and values between mapfuzz's byte encoding (harness/data/values.py) and Go.
//
// A key becomes an interface value whose dynamic type follows the key's tag byte:
//
//	'i' int64 payload  -> int64
//	'm' int64 payload  -> MyInt (a named integer type: MyInt(42) != int64(42))
//	's' UTF-8 payload  -> string
//	'b' raw payload    -> bytesKey (slices are not comparable, arrays are)
//	anything else      -> rawKey (the whole encoding: still one key per byte string)
//
// A value becomes an `any` holding int64 ('i'), float64 ('f'), string ('s'),
// []byte ('b', the bytes after the tag) or a tuple struct ('t', three words), and
// is encoded back from the interface's dynamic type. mapfuzz's values carry their
// writer and a checksum, so an interface whose type word and data word come from
// two different writes encodes to bytes that fail the check: the oracle calls it
// torn. Encoding such an interface may read memory that is not what its type says;
// a fault while doing so is recovered and encoded as a value that is surely torn.

import (
	"encoding/binary"
	"math"
	"runtime/debug"
	"unsafe"
)

const (
	maxKey   = 32  // MF_MAX_KEY
	maxValue = 256 // MF_MAX_VALUE
)

// MyInt is the named integer key type: a key of its own, distinct from int64.
type MyInt int64

// bytesKey is a bytes key: its length, then the payload padded with zeros.
type bytesKey struct {
	n uint8
	b [maxKey - 1]byte
}

// rawKey holds a key whose tag no Go type stands for.
type rawKey struct {
	n uint8
	b [maxKey]byte
}

// tuple is the Go value of a mapfuzz tuple value: a small struct.
type tuple struct{ A, B, C uint64 }

func decodeKey(raw []byte) any {
	if len(raw) == 9 && raw[0] == 'i' {
		return int64(binary.LittleEndian.Uint64(raw[1:]))
	}
	if len(raw) == 9 && raw[0] == 'm' {
		return MyInt(binary.LittleEndian.Uint64(raw[1:]))
	}
	if len(raw) >= 1 && raw[0] == 's' {
		return string(raw[1:])
	}
	if len(raw) >= 1 && len(raw) <= maxKey && raw[0] == 'b' {
		k := bytesKey{n: uint8(len(raw) - 1)}
		copy(k.b[:], raw[1:])
		return k
	}
	k := rawKey{n: uint8(len(raw))}
	copy(k.b[:], raw)
	return k
}

// encodeKey writes k's encoding into dst (maxKey bytes) and returns its length.
func encodeKey(k any, dst []byte) int {
	switch x := k.(type) {
	case int64:
		dst[0] = 'i'
		binary.LittleEndian.PutUint64(dst[1:9], uint64(x))
		return 9
	case MyInt:
		dst[0] = 'm'
		binary.LittleEndian.PutUint64(dst[1:9], uint64(x))
		return 9
	case string:
		dst[0] = 's'
		return 1 + copy(dst[1:], x)
	case bytesKey:
		dst[0] = 'b'
		return 1 + copy(dst[1:], x.b[:x.n])
	case rawKey:
		return copy(dst, x.b[:x.n])
	}
	return 0
}

func decodeValue(raw []byte) any {
	if len(raw) == 0 {
		return rawValue("")
	}
	p := raw[1:]
	switch {
	case raw[0] == 'i' && len(p) == 8:
		return int64(binary.LittleEndian.Uint64(p))
	case raw[0] == 'f' && len(p) == 8:
		return math.Float64frombits(binary.LittleEndian.Uint64(p))
	case raw[0] == 's':
		return string(p)
	case raw[0] == 't' && len(p) == 24:
		return tuple{binary.LittleEndian.Uint64(p), binary.LittleEndian.Uint64(p[8:]),
			binary.LittleEndian.Uint64(p[16:])}
	case raw[0] == 'b':
		return append([]byte(nil), p...)
	}
	return rawValue(raw) // never written by mapfuzz; kept byte for byte
}

// rawValue holds a value whose tag and length fit no Go type above.
type rawValue string

// encodeValue writes v's encoding into dst (maxValue bytes) and returns its length.
// A fault while reading v (a torn interface whose data word does not hold what its
// type word says) gives a one-byte value, which mapfuzz's check rejects as torn.
func encodeValue(v any, dst []byte) (n int) {
	old := debug.SetPanicOnFault(true)
	defer func() {
		debug.SetPanicOnFault(old)
		if recover() != nil {
			dst[0] = '?'
			n = 1
		}
	}()
	switch x := v.(type) {
	case int64:
		dst[0] = 'i'
		binary.LittleEndian.PutUint64(dst[1:9], uint64(x))
		return 9
	case float64:
		dst[0] = 'f'
		binary.LittleEndian.PutUint64(dst[1:9], math.Float64bits(x))
		return 9
	case string:
		// a torn header may claim any length: never read more than fits
		if len(x) > maxValue-1 {
			dst[0] = 's'
			return 1
		}
		dst[0] = 's'
		return 1 + copy(dst[1:], x)
	case []byte:
		dst[0] = 'b'
		if len(x) > maxValue-1 {
			return 1
		}
		return 1 + copy(dst[1:], x)
	case rawValue:
		return copy(dst, x)
	case tuple:
		dst[0] = 't'
		binary.LittleEndian.PutUint64(dst[1:], x.A)
		binary.LittleEndian.PutUint64(dst[9:], x.B)
		binary.LittleEndian.PutUint64(dst[17:], x.C)
		return 25
	}
	dst[0] = '?'
	return 1
}

// cbytes views C memory as a Go slice (valid for the duration of the call only).
func cbytes(p unsafe.Pointer, n int) []byte {
	if p == nil || n == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(p), n)
}
