"""Self-checking mixed-type values and typed keys.

Every value a schedule writes is unique and names the write that produced it: the
writer (parallel thread 0..15, or ``PREFILL_WRITER`` for the sequential prefill) and
the writer's sequence number (1, 2, 3, ... in list order). A checksum covers the
whole payload, the type tag and the length, so bytes assembled from two writes,
a truncated value, or freed memory (poisoned with 0xA5, or zeroed) fail
``check_value``.

Value grammar (all integers little endian; ``id`` is 24 bits: ``writer << 16 | seq``,
valid when ``writer <= 16`` and ``1 <= seq <= 65535``; ``H(tag, len, id, k)`` is a
64-bit hash, see ``_h``; ``C`` is ``H(...) >> 24``, the hash's top 40 bits)::

    value  := int | float | str | bytes | tuple
    int    := "i" word(0)                                     9 bytes
    word(k):= u64( id | C(tag, len, id, k) << 24 )            id bits + 40 check bits
    float  := "f" f64                                         9 bytes, finite, normal:
              sign = c[37], exponent = 0x200 + c[28:37], mantissa = c[0:28] << 24 | id
              where c = C("f", 9, id, 0)                      38 check bits
    str    := "s" char{n}          n = 8..14 (9..15 bytes: inline in evacmap)
              chars from ALPHABET (64 printable ASCII), 6 bits each, least
              significant first, of X = id | (C'(tag, len, id) << 24) where C' keeps
              the top 6n - 24 bits of H: 24..60 check bits, length included
    bytes  := "b" u24(id) stream   16..256 bytes (out of line in evacmap)
              value byte p (4 <= p < len) = byte p of
              SHAKE128(u64(SALT) "b" u16(len) u24(id)): every aligned 8-byte word
              depends on (id, word index, length)
    tuple  := "t" word(0) word(1) word(2)                     25 bytes, 3 words that
              each carry the id and their own check (the ids must agree)

Keys: a tag byte then the payload, at most 32 bytes in all::

    key    := "i" i64 | "m" i64 | "s" utf8{0..31} | "b" byte{0..31}

"m" is a named integer type (``MyInt``: Go's ``type MyInt int64``; in Python the
frozen ``MyInt(42)``): same payload as int, a different type, so a different key.
int 42, MyInt(42), str "42" and bytes b"42" are four different keys.
"""

from __future__ import annotations

import functools
import hashlib
import struct
from dataclasses import dataclass

PREFILL_WRITER = 16
"""Writer id of the sequential prefill (parallel threads are 0..15)."""
MAX_WRITER = PREFILL_WRITER
MAX_SEQ = 0xFFFF

VALUE_TYPES = ("int", "float", "str", "bytes", "tuple")
TAGS = {"int": b"i", "float": b"f", "str": b"s", "bytes": b"b", "tuple": b"t"}
_TAG_TYPES = {t[0]: name for name, t in TAGS.items()}
FIXED_SIZES = {"int": 9, "float": 9, "tuple": 25}
SIZE_RANGES: dict[str, tuple[int, int]] = {
    "int": (9, 9),
    "float": (9, 9),
    "str": (9, 15),
    "bytes": (16, 256),
    "tuple": (25, 25),
}
"""Inclusive encoded lengths (tag byte included) per value type."""

ALPHABET = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-_"
_ALPHA_INDEX = {c: i for i, c in enumerate(ALPHABET)}

MAX_KEY = 32
"""Encoded key bytes, tag included (MF_MAX_KEY)."""
KEY_PAYLOAD = MAX_KEY - 1
KEY_TYPES = ("int", "str", "bytes", "myint")

_M64 = (1 << 64) - 1
_SALT = 0x6D61_7066_757A_7A31  # "mapfuzz1"
_I64 = struct.Struct("<q")
_U64 = struct.Struct("<Q")
_F64 = struct.Struct("<d")


def _mix(x: int) -> int:
    """splitmix64 finaliser: a bijection of 64-bit ints with full avalanche."""
    x &= _M64
    x ^= x >> 30
    x = (x * 0xBF58476D1CE4E5B9) & _M64
    x ^= x >> 27
    x = (x * 0x94D049BB133111EB) & _M64
    return x ^ (x >> 31)


def _h(tag: int, length: int, ident: int, k: int) -> int:
    return _mix(_mix(ident ^ (k << 32) ^ _SALT) ^ (tag << 56) ^ (length << 40))


def _ident(writer: int, seq: int) -> int:
    if not 0 <= writer <= MAX_WRITER:
        raise ValueError(f"writer {writer} out of range 0..{MAX_WRITER}")
    if not 1 <= seq <= MAX_SEQ:
        raise ValueError(f"seq {seq} out of range 1..{MAX_SEQ}")
    return writer << 16 | seq


def _split(ident: int) -> tuple[int, int] | None:
    writer, seq = ident >> 16, ident & 0xFFFF
    if writer > MAX_WRITER or seq == 0:
        return None
    return writer, seq


def _word(tag: int, length: int, ident: int, k: int) -> int:
    return ident | (_h(tag, length, ident, k) >> 24) << 24


def _float_bits(ident: int) -> int:
    c = _h(0x66, 9, ident, 0) >> 24
    sign = (c >> 37) & 1
    exponent = 0x200 + ((c >> 28) & 0x1FF)
    mantissa = (c & 0xFFFFFFF) << 24 | ident
    return sign << 63 | exponent << 52 | mantissa


def _str_payload(length: int, ident: int) -> bytes:
    n = length - 1
    check_bits = 6 * n - 24
    x = ident | (_h(0x73, length, ident, 0) >> (64 - check_bits)) << 24
    return bytes(ALPHABET[(x >> (6 * i)) & 63] for i in range(n))


def _bytes_stream(length: int, ident: int) -> bytes:
    """``length`` bytes of an extendable-output hash of (tag, length, id): byte p of a
    value sits at stream position p, so every word depends on id, position and length."""
    seed = (
        _U64.pack(_SALT) + bytes((0x62, length & 0xFF, length >> 8)) + ident.to_bytes(3, "little")
    )
    return hashlib.shake_128(seed).digest(length)


def _bytes_value(length: int, ident: int) -> bytes:
    return b"b" + ident.to_bytes(3, "little") + _bytes_stream(length, ident)[4:]


@functools.lru_cache(maxsize=1 << 16)
def make_value(vtype: str, size: int, writer: int, seq: int) -> bytes:
    """The value ``writer`` writes as its ``seq``-th write: ``size`` bytes of type ``vtype``.

    ``size`` is the encoded length, tag included; 0 picks the smallest for the type.
    """
    if vtype not in SIZE_RANGES:
        raise ValueError(f"unknown value type {vtype!r}; known: {', '.join(VALUE_TYPES)}")
    lo, hi = SIZE_RANGES[vtype]
    if size == 0:
        size = lo
    if not lo <= size <= hi:
        raise ValueError(f"{vtype} values are {lo}..{hi} bytes, not {size}")
    ident = _ident(writer, seq)
    if vtype == "int":
        return b"i" + _U64.pack(_word(0x69, 9, ident, 0))
    if vtype == "float":
        return b"f" + _U64.pack(_float_bits(ident))
    if vtype == "str":
        return b"s" + _str_payload(size, ident)
    if vtype == "bytes":
        return _bytes_value(size, ident)
    return b"t" + b"".join(_U64.pack(_word(0x74, 25, ident, k)) for k in range(3))


def _check_word(tag: int, length: int, raw: bytes, k: int) -> int | None:
    w: int = _U64.unpack(raw)[0]
    ident = w & 0xFFFFFF
    return ident if w == _word(tag, length, ident, k) else None


def _check_ident(b: bytes) -> int | None:
    n = len(b)
    if n == 0:
        return None
    tag = b[0]
    if tag == 0x69:  # int
        return _check_word(tag, 9, b[1:9], 0) if n == 9 else None
    if tag == 0x66:  # float
        if n != 9:
            return None
        bits: int = _U64.unpack(b[1:9])[0]
        ident = bits & 0xFFFFFF
        return ident if bits == _float_bits(ident) else None
    if tag == 0x73:  # str
        if not 9 <= n <= 15:
            return None
        x = 0
        for i in range(n - 1):
            d = _ALPHA_INDEX.get(b[1 + i])
            if d is None:
                return None
            x |= d << (6 * i)
        ident = x & 0xFFFFFF
        return ident if b[1:] == _str_payload(n, ident) else None
    if tag == 0x62:  # bytes
        if not 16 <= n <= 256:
            return None
        ident = int.from_bytes(b[1:4], "little")
        if _split(ident) is None:
            return None
        return ident if b[4:] == _bytes_stream(n, ident)[4:] else None
    if tag == 0x74:  # tuple
        if n != 25:
            return None
        ids = [_check_word(tag, 25, b[1 + 8 * k : 9 + 8 * k], k) for k in range(3)]
        if ids[0] is None or ids[0] != ids[1] or ids[0] != ids[2]:
            return None
        return ids[0]
    return None


def check_value(b: bytes) -> tuple[int, int] | None:
    """``(writer, seq)`` of the write that produced ``b``, or None if ``b`` is torn."""
    ident = _check_ident(bytes(b))
    return None if ident is None else _split(ident)


def value_type(b: bytes) -> str | None:
    """The type name ``b``'s tag byte announces (None for an unknown tag)."""
    return _TAG_TYPES.get(b[0]) if b else None


def writer_label(writer: int, seq: int) -> str:
    """``"t1#3"`` for thread 1's third write, ``"pre#2"`` for the prefill's second."""
    return f"pre#{seq}" if writer == PREFILL_WRITER else f"t{writer}#{seq}"


def describe_value(b: bytes) -> str:
    """``"int from t1#3"`` for a valid value, ``"torn 9 bytes: 69a5a5..."`` otherwise."""
    ws = check_value(b)
    if ws is not None:
        return f"{value_type(b)} from {writer_label(*ws)}"
    head = bytes(b[:16]).hex()
    return f"torn {len(b)} bytes: {head}{'...' if len(b) > 16 else ''}"


def decode_value(b: bytes) -> int | float | str | bytes | tuple[int, ...]:
    """The Python rendering of a value (best effort for torn bytes: the raw bytes
    when the tag and length do not fit any type)."""
    b = bytes(b)
    t = value_type(b)
    n = len(b)
    if t == "int" and n == 9:
        return int(_I64.unpack(b[1:])[0])
    if t == "float" and n == 9:
        return float(_F64.unpack(b[1:])[0])
    if t == "str" and 9 <= n <= 15:
        return b[1:].decode("ascii", "replace")
    if t == "bytes" and 16 <= n <= 256:
        return b[1:]
    if t == "tuple" and n == 25:
        return tuple(int(_I64.unpack(b[1 + 8 * k : 9 + 8 * k])[0]) for k in range(3))
    return b


# ---- keys -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MyInt:
    """A key of a named integer type (Go: ``type MyInt int64``). ``MyInt(42)`` and
    ``42`` are different keys, as ``MyInt(42)`` and ``int64(42)`` are in a Go map."""

    value: int

    def __repr__(self) -> str:
        return f"MyInt({self.value})"


Key = int | str | bytes | MyInt


def _int_payload(k: int, what: str) -> bytes:
    if not -(1 << 63) <= k < (1 << 63):
        raise ValueError(f"{what} key {k} does not fit in 64 bits")
    return _I64.pack(k)


def encode_key(k: Key) -> bytes:
    """Tag byte (``i``/``m``/``s``/``b``) + payload: int and MyInt as 8-byte
    little-endian signed, str as UTF-8, bytes as is. Raises ValueError when it does
    not fit 32 bytes."""
    if isinstance(k, bool):
        raise ValueError(f"key {k!r}: bool is not a key type (use int)")
    if isinstance(k, int):
        return b"i" + _int_payload(k, "int")
    if isinstance(k, MyInt):
        if isinstance(k.value, bool) or not isinstance(k.value, int):
            raise ValueError(f"key {k!r}: a MyInt holds an int")
        return b"m" + _int_payload(k.value, "MyInt")
    if isinstance(k, str):
        raw = k.encode("utf-8")
        if len(raw) > KEY_PAYLOAD:
            raise ValueError(f"str key {k!r} is {len(raw)} UTF-8 bytes, max {KEY_PAYLOAD}")
        return b"s" + raw
    if isinstance(k, bytes | bytearray | memoryview):
        raw = bytes(k)
        if len(raw) > KEY_PAYLOAD:
            raise ValueError(f"bytes key {raw.hex()} is {len(raw)} bytes, max {KEY_PAYLOAD}")
        return b"b" + raw
    raise ValueError(f"key {k!r}: keys are int, str, bytes or MyInt")


def decode_key(b: bytes) -> Key:
    """Inverse of ``encode_key``; ValueError for bytes no key encodes to."""
    b = bytes(b)
    if not b or len(b) > MAX_KEY:
        raise ValueError(f"key bytes {b.hex()!r}: length {len(b)} not in 1..{MAX_KEY}")
    tag, payload = b[0], b[1:]
    if tag == 0x69 and len(payload) == 8:
        return int(_I64.unpack(payload)[0])
    if tag == 0x6D and len(payload) == 8:
        return MyInt(int(_I64.unpack(payload)[0]))
    if tag == 0x73:
        try:
            return payload.decode("utf-8")
        except UnicodeDecodeError:
            raise ValueError(f"key bytes {b.hex()}: str payload is not UTF-8") from None
    if tag == 0x62:
        return payload
    raise ValueError(f"key bytes {b.hex()}: no key type has this tag and length")


def key_type(k: Key) -> str:
    if isinstance(k, bool):
        raise ValueError("bool is not a key type")
    if isinstance(k, int):
        return "int"
    if isinstance(k, MyInt):
        return "myint"
    if isinstance(k, str):
        return "str"
    return "bytes"


def format_key(k: Key) -> str:
    """``"int:42"``, ``"myint:42"``, ``"str:'42'"``, ``"bytes:3432"``."""
    if isinstance(k, int):
        return f"int:{k}"
    if isinstance(k, MyInt):
        return f"myint:{k.value}"
    if isinstance(k, str):
        return f"str:{k!r}"
    return f"bytes:{bytes(k).hex()}"


def key_label(b: bytes) -> str:
    """Display form of encoded key bytes; total (``"raw:<hex>"`` for undecodable bytes)."""
    try:
        return format_key(decode_key(b))
    except ValueError:
        return f"raw:{bytes(b).hex()}"
