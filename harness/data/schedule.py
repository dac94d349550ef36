"""The schedule model: what one execution runs, and its two codecs.

A ``Schedule`` is a map configuration, a key pool, a sequential prefill (puts only)
and one op list per parallel thread. Ops name keys by index into the pool; a put
names the type and encoded size of the value it writes (the value itself is derived
when the schedule is compiled, see ``harness.data.plan.compile_schedule``: every write
gets its own self-checking value).

Two codecs:

* JSON (``to_json`` / ``from_json``, ``dumps`` / ``loads``): the readable, diffable,
  versioned form kept in corpus files and reproducers.
* bytes (``encode_bytes`` / ``decode_bytes``): the compact form fuzz engines mutate.
  ``decode_bytes`` is total: any byte string decodes to a valid schedule.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from harness.data.values import (
    FIXED_SIZES,
    SIZE_RANGES,
    VALUE_TYPES,
    Key,
    MyInt,
    encode_key,
    format_key,
)

FORMAT = "mapfuzz-schedule/1"

OP_KINDS = ("get", "put", "put_if_absent", "delete", "iterate", "len")
WRITE_KINDS = frozenset({"put", "put_if_absent"})
KEYED_KINDS = frozenset({"get", "put", "put_if_absent", "delete"})

MAX_THREADS = 16
MAX_KEYS = 4096
"""Keys of one schedule: the contended pool and the prefill's filler keys (the C
runner takes up to 65,535; the post phase reads every key once)."""
MAX_OPS = 256
"""Ops per parallel thread."""
MAX_PREFILL = 4096
BYTES_MAX_KEYS = 64
"""The byte form's limits (fuzz engines mutate it; it is unchanged since format 1):
larger schedules (the random engine's big prefills) exist in JSON form only."""
BYTES_MAX_PREFILL = 1024
MAX_CAPACITY = 4096
MAX_SEED = (1 << 64) - 1


class ScheduleError(ValueError):
    """A schedule (or its JSON form) is invalid; the message names the field."""


@dataclass(frozen=True, slots=True)
class MapConfig:
    target: str = "evacmap"
    variant: str | None = None
    """Name of a seeded bug of the target, None for the correct map."""
    hash_seed: int = 0
    capacity: int = 8
    """Capacity hint passed to the target's create."""


@dataclass(frozen=True, slots=True)
class Op:
    kind: str
    key: int = 0
    """Index into the schedule's keys (0 for iterate and len)."""
    vtype: str | None = None
    """Value type a put/put_if_absent writes (``harness.data.values.VALUE_TYPES``)."""
    vsize: int = 0
    """Encoded size of that value, tag byte included; 0 means the type's smallest."""

    def __post_init__(self) -> None:
        if self.vsize == 0 and self.vtype in SIZE_RANGES:
            object.__setattr__(self, "vsize", SIZE_RANGES[self.vtype][0])

    def check(self, where: str, nkeys: int) -> None:
        """Raise ScheduleError naming ``where`` (e.g. ``threads[1][4]``) if invalid."""
        if self.kind not in OP_KINDS:
            raise ScheduleError(f"{where}.kind = {self.kind!r}; kinds: {', '.join(OP_KINDS)}")
        if self.kind in KEYED_KINDS:
            if isinstance(self.key, bool) or not isinstance(self.key, int):
                raise ScheduleError(f"{where}.key = {self.key!r} is not an int")
            if not 0 <= self.key < nkeys:
                raise ScheduleError(f"{where}.key = {self.key} but there are {nkeys} keys")
        elif self.key != 0:
            raise ScheduleError(f"{where}.key = {self.key!r}: {self.kind} takes no key (use 0)")
        if self.kind in WRITE_KINDS:
            if self.vtype not in SIZE_RANGES:
                raise ScheduleError(
                    f"{where}.vtype = {self.vtype!r}; value types: {', '.join(VALUE_TYPES)}"
                )
            lo, hi = SIZE_RANGES[self.vtype]
            if isinstance(self.vsize, bool) or not isinstance(self.vsize, int):
                raise ScheduleError(f"{where}.vsize = {self.vsize!r} is not an int")
            if not lo <= self.vsize <= hi:
                raise ScheduleError(
                    f"{where}.vsize = {self.vsize}: {self.vtype} values are {lo}..{hi} bytes"
                )
        elif self.vtype is not None or self.vsize != 0:
            raise ScheduleError(f"{where}: {self.kind} writes no value (vtype/vsize given)")


_SHAPES = frozenset(
    [(k, None, 0) for k in OP_KINDS if k not in WRITE_KINDS]
    + [
        (k, t, n)
        for k in sorted(WRITE_KINDS)
        for t, (lo, hi) in SIZE_RANGES.items()
        for n in range(lo, hi + 1)
    ]
)
"""Every valid (kind, vtype, vsize): validate's fast path."""


def _ops_ok(ops: tuple[Op, ...], nkeys: int) -> bool:
    shapes = _SHAPES
    for op in ops:
        key = op.key
        if (op.kind, op.vtype, op.vsize) not in shapes or type(key) is not int:
            return False
        if op.kind in KEYED_KINDS:
            if not 0 <= key < nkeys:
                return False
        elif key != 0:
            return False
    return True


@dataclass(frozen=True, slots=True)
class Schedule:
    config: MapConfig = field(default_factory=MapConfig)
    keys: tuple[Key, ...] = ()
    prefill: tuple[Op, ...] = ()
    """Sequential puts applied before the threads start."""
    threads: tuple[tuple[Op, ...], ...] = ((),)

    def validate(self) -> Schedule:
        """Raise ScheduleError if the schedule breaks a limit; return it otherwise."""
        c = self.config
        if not isinstance(c.target, str) or not c.target:
            raise ScheduleError(f"config.target = {c.target!r}: need a non-empty name")
        if c.variant is not None and (not isinstance(c.variant, str) or not c.variant):
            raise ScheduleError(f"config.variant = {c.variant!r}: need a name or None")
        for name, val, hi in (
            ("hash_seed", c.hash_seed, MAX_SEED),
            ("capacity", c.capacity, MAX_CAPACITY),
        ):
            if isinstance(val, bool) or not isinstance(val, int) or not 0 <= val <= hi:
                raise ScheduleError(f"config.{name} = {val!r}: need an int in 0..{hi}")
        if not 1 <= len(self.keys) <= MAX_KEYS:
            raise ScheduleError(f"keys: {len(self.keys)} keys, need 1..{MAX_KEYS}")
        seen: dict[bytes, int] = {}
        for i, k in enumerate(self.keys):
            try:
                enc = encode_key(k)
            except ValueError as e:
                raise ScheduleError(f"keys[{i}] = {k!r}: {e}") from None
            if enc in seen:
                raise ScheduleError(f"keys[{i}] = {format_key(k)} repeats keys[{seen[enc]}]")
            seen[enc] = i
        n = len(self.keys)
        if len(self.prefill) > MAX_PREFILL:
            raise ScheduleError(f"prefill: {len(self.prefill)} ops, max {MAX_PREFILL}")
        for i, op in enumerate(self.prefill):
            if op.kind != "put":
                raise ScheduleError(f"prefill[{i}].kind = {op.kind!r}: the prefill only puts")
        if not _ops_ok(self.prefill, n):
            for i, op in enumerate(self.prefill):
                op.check(f"prefill[{i}]", n)
        if not 1 <= len(self.threads) <= MAX_THREADS:
            raise ScheduleError(f"threads: {len(self.threads)} threads, need 1..{MAX_THREADS}")
        for t, ops in enumerate(self.threads):
            if len(ops) > MAX_OPS:
                raise ScheduleError(f"threads[{t}]: {len(ops)} ops, max {MAX_OPS}")
            if not _ops_ok(ops, n):
                for i, op in enumerate(ops):
                    op.check(f"threads[{t}][{i}]", n)
        return self

    @property
    def nops(self) -> int:
        """Parallel ops over all threads."""
        return sum(len(t) for t in self.threads)


# ---- JSON form ---------------------------------------------------------------------
#
# Grammar (JSON; "?" optional, "*" repeated):
#
#   schedule := { "format": "mapfuzz-schedule/1",
#                 "config": { "target": str, "variant": str | null,
#                             "hash_seed": int (0..2^64-1), "capacity": int (0..4096) },
#                 "keys":    [ key* ],                 1..4096 keys, distinct
#                 "prefill": [ op* ],                  puts only, at most 4096
#                 "threads": [ [ op* ]* ] }            1..16 threads, at most 256 ops each
#   key      := {"int": int} | {"myint": int} | {"str": str} | {"bytes": hex str}
#   op       := ["get", k] | ["delete", k] | ["iterate"] | ["len"]
#             | ["put", k, vtype, size?] | ["put_if_absent", k, vtype, size?]
#   vtype    := "int" | "float" | "str" | "bytes" | "tuple"
#
# k is an index into "keys"; size is the value's encoded length (tag included),
# written only for str (9..15) and bytes (16..256); int and float are 9, tuple 25.
# "config" fields default to MapConfig's when absent.


def key_to_json(k: Key) -> dict[str, Any]:
    if isinstance(k, int):
        return {"int": k}
    if isinstance(k, MyInt):
        return {"myint": k.value}
    if isinstance(k, str):
        return {"str": k}
    return {"bytes": bytes(k).hex()}


def key_from_json(d: Any, where: str) -> Key:
    if not isinstance(d, dict) or len(d) != 1:
        raise ScheduleError(
            f"{where} = {d!r}: need one of {{'int': n}}, {{'myint': n}}, {{'str': s}}, "
            "{'bytes': hex}"
        )
    ((t, v),) = d.items()
    if t == "int" and isinstance(v, int) and not isinstance(v, bool):
        return v
    if t == "myint" and isinstance(v, int) and not isinstance(v, bool):
        return MyInt(v)
    if t == "str" and isinstance(v, str):
        return v
    if t == "bytes" and isinstance(v, str):
        try:
            return bytes.fromhex(v)
        except ValueError:
            raise ScheduleError(f"{where}.bytes = {v!r} is not hex") from None
    raise ScheduleError(
        f"{where} = {d!r}: need {{'int': n}}, {{'myint': n}}, {{'str': s}} or {{'bytes': hex}}"
    )


def op_to_json(op: Op) -> list[Any]:
    if op.kind in WRITE_KINDS:
        assert op.vtype is not None
        if op.vtype in FIXED_SIZES:
            return [op.kind, op.key, op.vtype]
        return [op.kind, op.key, op.vtype, op.vsize]
    if op.kind in KEYED_KINDS:
        return [op.kind, op.key]
    return [op.kind]


def op_from_json(d: Any, where: str) -> Op:
    if not isinstance(d, list) or not d or not isinstance(d[0], str):
        raise ScheduleError(f"{where} = {d!r}: need a list [kind, key?, vtype?, size?]")
    kind = d[0]
    if kind not in OP_KINDS:
        raise ScheduleError(f"{where}: unknown op {kind!r}; ops: {', '.join(OP_KINDS)}")
    arity = {"get": (2, 2), "delete": (2, 2), "iterate": (1, 1), "len": (1, 1)}.get(kind, (3, 4))
    if not arity[0] <= len(d) <= arity[1]:
        raise ScheduleError(
            f"{where} = {d!r}: {kind} takes {arity[0] - 1}..{arity[1] - 1} arguments"
        )
    key = d[1] if len(d) > 1 else 0
    if isinstance(key, bool) or not isinstance(key, int):
        raise ScheduleError(f"{where}: key index {key!r} is not an int")
    vtype = d[2] if len(d) > 2 else None
    if vtype is not None and vtype not in SIZE_RANGES:
        raise ScheduleError(f"{where}: value type {vtype!r}; types: {', '.join(VALUE_TYPES)}")
    vsize = d[3] if len(d) > 3 else 0
    if isinstance(vsize, bool) or not isinstance(vsize, int):
        raise ScheduleError(f"{where}: value size {vsize!r} is not an int")
    return Op(kind, key, vtype, vsize)


def to_json(s: Schedule) -> dict[str, Any]:
    """The JSON form (a dict ready for ``json.dump``)."""
    c = s.config
    return {
        "format": FORMAT,
        "config": {
            "target": c.target,
            "variant": c.variant,
            "hash_seed": c.hash_seed,
            "capacity": c.capacity,
        },
        "keys": [key_to_json(k) for k in s.keys],
        "prefill": [op_to_json(op) for op in s.prefill],
        "threads": [[op_to_json(op) for op in ops] for ops in s.threads],
    }


def _list(d: Mapping[str, Any], name: str) -> list[Any]:
    v = d.get(name)
    if not isinstance(v, list):
        raise ScheduleError(f"{name}: need a list, got {type(v).__name__}")
    return v


def from_json(d: Any) -> Schedule:
    """Parse and validate the JSON form; ScheduleError names what is wrong."""
    if not isinstance(d, dict):
        raise ScheduleError(f"schedule: need a JSON object, got {type(d).__name__}")
    fmt = d.get("format")
    if fmt is None:
        raise ScheduleError(f"format: missing (expected {FORMAT!r})")
    if fmt != FORMAT:
        if isinstance(fmt, str) and fmt.startswith("mapfuzz-schedule/"):
            raise ScheduleError(f"format: version {fmt!r} not supported (this is {FORMAT!r})")
        raise ScheduleError(f"format: {fmt!r} is not a mapfuzz schedule (expected {FORMAT!r})")
    extra = set(d) - {"format", "config", "keys", "prefill", "threads"}
    if extra:
        raise ScheduleError(f"schedule: unknown field(s) {', '.join(sorted(extra))}")
    cd = d.get("config", {})
    if not isinstance(cd, dict):
        raise ScheduleError(f"config: need an object, got {type(cd).__name__}")
    extra = set(cd) - {"target", "variant", "hash_seed", "capacity"}
    if extra:
        raise ScheduleError(f"config: unknown field(s) {', '.join(sorted(extra))}")
    base = MapConfig()
    config = MapConfig(
        target=cd.get("target", base.target),
        variant=cd.get("variant", base.variant),
        hash_seed=cd.get("hash_seed", base.hash_seed),
        capacity=cd.get("capacity", base.capacity),
    )
    keys = tuple(key_from_json(k, f"keys[{i}]") for i, k in enumerate(_list(d, "keys")))
    prefill = tuple(op_from_json(o, f"prefill[{i}]") for i, o in enumerate(_list(d, "prefill")))
    threads = []
    for t, ops in enumerate(_list(d, "threads")):
        if not isinstance(ops, list):
            raise ScheduleError(f"threads[{t}]: need a list of ops, got {type(ops).__name__}")
        threads.append(tuple(op_from_json(o, f"threads[{t}][{i}]") for i, o in enumerate(ops)))
    return Schedule(config, keys, prefill, tuple(threads)).validate()


def dumps(s: Schedule) -> str:
    """Pretty JSON text, one op per line (stable and diffable)."""
    j = to_json(s)

    def ops_text(ops: list[Any], indent: str) -> str:
        if not ops:
            return "[]"
        inner = f",\n{indent}  ".join(json.dumps(o) for o in ops)
        return f"[\n{indent}  {inner}\n{indent}]"

    keys = ",\n    ".join(json.dumps(k) for k in j["keys"])
    threads = ",\n    ".join(ops_text(t, "    ") for t in j["threads"])
    return (
        "{\n"
        f'  "format": {json.dumps(j["format"])},\n'
        f'  "config": {json.dumps(j["config"])},\n'
        f'  "keys": [\n    {keys}\n  ],\n'
        f'  "prefill": {ops_text(j["prefill"], "  ")},\n'
        f'  "threads": [\n    {threads}\n  ]\n'
        "}\n"
    )


def loads(text: str) -> Schedule:
    try:
        d = json.loads(text)
    except json.JSONDecodeError as e:
        raise ScheduleError(f"not JSON: {e}") from None
    return from_json(d)


# ---- byte form ---------------------------------------------------------------------
#
# The fuzz engines' input. decode_bytes is total: every byte string decodes to a valid
# schedule; trailing bytes are ignored. Short input: header and key bytes past the end
# read as 0; op lists (prefill and threads) end where the input ends (a truncated
# input is the same schedule with fewer ops). The target and variant are not in the
# bytes: they come from the ``config`` argument (the fuzzer's command line).
# Grammar (u64 little endian, "%" is modulo):
#
#   schedule := u8 T  u8 K  var capacity  u64 hash_seed  var P
#               key{K'}  put{P'}  thread{T'}
#        T' = T % 16 + 1 threads, K' = K % 64 + 1 keys,
#        capacity % 4097, P' = P % 1025 prefill puts
#   var      := u8 b  [u8 c if b >= 0x80]     value (b & 0x7f) | c << 7  (0..32767)
#   key      := u8 H  payload
#        type = (H >> 6): 0 int, 1 str, 2 bytes, 3 myint;  n = H & 63
#        int, myint: min(n, 8) bytes, little-endian two's complement, sign-extended
#        str:   n % 32 bytes, UTF-8 (invalid sequences dropped)
#        bytes: n % 32 bytes
#        a key equal to an earlier one becomes the int 2^62 + i (+1 until unused);
#        the key list ends where the input ends (at least one key: int 0), and ops
#        index the keys actually read
#   thread   := var N  op{N % 257}
#   op       := u8 kind  [u8 key  [u8 vtype [u8 size]]]
#        kind % 6 indexes OP_KINDS; get/delete read a key byte, put/put_if_absent a key
#        byte and a vtype byte, and str/bytes puts a size byte; iterate/len nothing
#        key % K' indexes the keys; vtype % 5 indexes VALUE_TYPES
#        str size = 9 + size % 7, bytes size = 16 + size % 241
#   put      := u8 key  u8 vtype  [u8 size]            (prefill: kind is always put)
#
# Limits: those of Schedule.validate (16 threads, 31-byte key payloads, 256 ops a
# thread, capacity <= 4096) and, narrower than validate's, BYTES_MAX_KEYS (64) keys
# and BYTES_MAX_PREFILL (1024) prefill puts. encode_bytes writes the canonical form
# (ints in the fewest bytes), so decode_bytes(encode_bytes(s), s.config) == s for
# every valid schedule within those limits; it refuses larger ones.


class _Reader:
    __slots__ = ("data", "pos")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def u8(self) -> int:
        p = self.pos
        self.pos = p + 1
        return self.data[p] if p < len(self.data) else 0

    def take(self, n: int) -> bytes:
        p = self.pos
        self.pos = p + n
        chunk = self.data[p : p + n]
        return chunk + bytes(n - len(chunk))

    def uint(self, n: int) -> int:
        return int.from_bytes(self.take(n), "little")

    def var(self) -> int:
        b = self.u8()
        return b & 0x7F | self.u8() << 7 if b & 0x80 else b

    def more(self) -> bool:
        return self.pos < len(self.data)


_VTYPE_INDEX = {t: i for i, t in enumerate(VALUE_TYPES)}
_KIND_INDEX = {k: i for i, k in enumerate(OP_KINDS)}


_OP_MEMO: dict[tuple[str, int, str | None, int], Op] = {}


def _op(kind: str, key: int = 0, vtype: str | None = None, vsize: int = 0) -> Op:
    """Ops are immutable: decode_bytes shares one instance per distinct op."""
    t = (kind, key, vtype, vsize)
    op = _OP_MEMO.get(t)
    if op is None:
        op = _OP_MEMO[t] = Op(kind, key, vtype, vsize)
    return op


def _read_op(r: _Reader, kind: str, nkeys: int) -> Op:
    if kind not in KEYED_KINDS:
        return _op(kind)
    key = r.u8() % nkeys
    if kind not in WRITE_KINDS:
        return _op(kind, key)
    vtype = VALUE_TYPES[r.u8() % len(VALUE_TYPES)]
    if vtype == "str":
        return _op(kind, key, vtype, 9 + r.u8() % 7)
    if vtype == "bytes":
        return _op(kind, key, vtype, 16 + r.u8() % 241)
    return _op(kind, key, vtype, SIZE_RANGES[vtype][0])


def _read_key(r: _Reader) -> Key:
    h = r.u8()
    t, n = h >> 6, h & 63
    if t == 1:
        return r.take(n % 32).decode("utf-8", "ignore")
    if t == 2:
        return r.take(n % 32)
    v = int.from_bytes(r.take(min(n, 8)), "little", signed=True)
    return MyInt(v) if t == 3 else v


def decode_bytes(data: bytes, config: MapConfig | None = None) -> Schedule:
    """Decode the byte form; total (never raises, always a valid schedule).

    ``config`` supplies target and variant (hash seed and capacity come from the bytes).
    """
    base = config if config is not None else MapConfig()
    r = _Reader(bytes(data))
    nthreads = r.u8() % MAX_THREADS + 1
    nkeys = r.u8() % BYTES_MAX_KEYS + 1
    capacity = r.var() % (MAX_CAPACITY + 1)
    seed = r.uint(8)
    nprefill = r.var() % (BYTES_MAX_PREFILL + 1)
    keys: list[Key] = []
    seen: set[bytes] = set()
    for i in range(nkeys):
        if i and not r.more():
            break
        k = _read_key(r)
        enc = encode_key(k)
        if enc in seen:
            k = (1 << 62) + i
            while encode_key(k) in seen:
                k += 1
            enc = encode_key(k)
        seen.add(enc)
        keys.append(k)
    nkeys = len(keys)
    prefill: list[Op] = []
    while len(prefill) < nprefill and r.more():
        prefill.append(_read_op(r, "put", nkeys))
    threads = []
    for _ in range(nthreads):
        n = r.var() % (MAX_OPS + 1)
        ops: list[Op] = []
        while len(ops) < n and r.more():
            ops.append(_read_op(r, OP_KINDS[r.u8() % 6], nkeys))
        threads.append(tuple(ops))
    cfg = MapConfig(base.target, base.variant, seed, capacity)
    return Schedule(cfg, tuple(keys), tuple(prefill), tuple(threads))


def _write_key(out: bytearray, k: Key) -> None:
    if isinstance(k, int | MyInt):
        v = k if isinstance(k, int) else k.value
        n = 0 if v == 0 else min(8, (v.bit_length() + 8) // 8)  # room for the sign bit
        out.append(n if isinstance(k, int) else 0xC0 | n)
        out += v.to_bytes(n, "little", signed=True)
    elif isinstance(k, str):
        raw = k.encode("utf-8")
        out.append(0x40 | len(raw))
        out += raw
    else:
        out.append(0x80 | len(k))
        out += k


def _write_var(out: bytearray, n: int) -> None:
    if n < 0x80:
        out.append(n)
    else:
        out += bytes((0x80 | n & 0x7F, n >> 7))


def _write_op(out: bytearray, op: Op, with_kind: bool) -> None:
    if with_kind:
        out.append(_KIND_INDEX[op.kind])
    if op.kind not in KEYED_KINDS:
        return
    out.append(op.key)
    if op.kind not in WRITE_KINDS:
        return
    assert op.vtype is not None
    out.append(_VTYPE_INDEX[op.vtype])
    if op.vtype == "str":
        out.append(op.vsize - 9)
    elif op.vtype == "bytes":
        out.append(op.vsize - 16)


def encode_bytes(s: Schedule) -> bytes:
    """The canonical byte form of a valid schedule (target and variant left out).
    ScheduleError for a schedule beyond the byte form's limits (BYTES_MAX_*)."""
    s.validate()
    if len(s.keys) > BYTES_MAX_KEYS or len(s.prefill) > BYTES_MAX_PREFILL:
        raise ScheduleError(
            f"{len(s.keys)} keys, {len(s.prefill)} prefill puts: the byte form holds at most "
            f"{BYTES_MAX_KEYS} keys and {BYTES_MAX_PREFILL} prefill puts; keep this schedule "
            "as JSON (mapfuzz show / the reproducer file)")
    out = bytearray()
    out.append(len(s.threads) - 1)
    out.append(len(s.keys) - 1)
    _write_var(out, s.config.capacity)
    out += s.config.hash_seed.to_bytes(8, "little")
    _write_var(out, len(s.prefill))
    for k in s.keys:
        _write_key(out, k)
    for op in s.prefill:
        _write_op(out, op, with_kind=False)
    for ops in s.threads:
        _write_var(out, len(ops))
        for op in ops:
            _write_op(out, op, with_kind=True)
    return bytes(out)
