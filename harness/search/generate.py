"""Random schedule generation, and the standard schedule (corpus/standard.json).

``generate(rng, cfg, base)`` draws a schedule from the knobs in ``GenConfig``; it is
deterministic for a given ``random.Random`` state. The shape it aims for:

* a small pool of contended keys (indices ``0 .. cfg.keys - 1``) of mixed types, that
  all threads' ops draw from, so threads collide on keys; optionally keys whose
  hashes collide (``colliding_keys``; near-identical bytes, or a ``collide`` hook that
  knows the target's hash) and "type twins" (int 42, str "42", bytes b"42");
* a prefill that leaves the map just under its growth threshold, with filler keys
  (indices after the contended ones), so the parallel phase's inserts start a growth
  and the threads race with evacuation.
"""

from __future__ import annotations

import random
import string
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from harness.data.schedule import (
    MAX_CAPACITY,
    MAX_KEYS,
    MAX_OPS,
    MAX_PREFILL,
    MAX_THREADS,
    OP_KINDS,
    MapConfig,
    Op,
    Schedule,
)
from harness.data.values import KEY_PAYLOAD, KEY_TYPES, SIZE_RANGES, VALUE_TYPES, Key, encode_key

CollideHook = Callable[[random.Random, MapConfig, int], Sequence[Key]]
"""``collide(rng, config, n)``: n distinct keys whose hashes collide (share a home
group / hash fragment) under ``config.hash_seed`` for ``config.target``."""

GROUP_SLOTS = 8
"""Slots per group in evacmap."""


def initial_groups(capacity: int) -> int:
    """Groups of evacmap's first table for a capacity hint: the smallest power of
    two whose groups hold ``capacity`` entries (at least one group)."""
    groups = 1
    while groups * GROUP_SLOTS < capacity:
        groups *= 2
    return groups


def growth_threshold(capacity: int) -> int:
    """Entries the first table takes before growing: 7/8 of its slots, or for a hint
    of 1..7 (a tiny first table) 7/8 of the hint, at least 1."""
    if 0 < capacity < GROUP_SLOTS:
        return max(1, capacity * 7 // 8)
    return initial_groups(capacity) * GROUP_SLOTS * 7 // 8


def _default_ops() -> dict[str, float]:
    return {"get": 3, "put": 4, "put_if_absent": 1.5, "delete": 2, "iterate": 0.3, "len": 0.3}


def _default_values() -> dict[str, float]:
    return {"int": 1, "float": 1, "str": 1, "bytes": 1, "tuple": 1}


def _default_keys() -> dict[str, float]:
    return {"int": 1, "str": 1, "bytes": 1}


@dataclass(frozen=True)
class GenConfig:
    threads: int = 3
    ops_per_thread: int = 16
    min_ops_per_thread: int | None = None
    """None: every thread gets exactly ``ops_per_thread`` ops; else a count drawn
    uniformly from ``min_ops_per_thread .. ops_per_thread`` per thread."""
    keys: int = 8
    """Contended keys: the pool the threads' ops draw from."""
    key_types: Mapping[str, float] = field(default_factory=_default_keys)
    """Weights of int / str / bytes keys."""
    type_twins: float = 0.25
    """Chance that a new key reuses an earlier key's payload under another type."""
    colliding_keys: float = 0.0
    """Fraction of the contended keys drawn as hash-colliding keys."""
    collide: CollideHook | None = None
    """Hook drawing keys that really collide under the target's hash; without it,
    colliding keys are near-identical (same type, bytes differing in one place)."""
    op_weights: Mapping[str, float] = field(default_factory=_default_ops)
    value_types: Mapping[str, float] = field(default_factory=_default_values)
    max_bytes_size: int = 256
    """Upper bound of long bytes value sizes (16..256)."""
    capacity: int | None = 8
    """Capacity hint; None draws one of 0, 8, 16, 32, 64 per schedule."""
    hash_seed: int | None = None
    """None draws a 64-bit seed per schedule."""
    prefill_fraction: float = 0.85
    """Distinct keys the prefill inserts, as a fraction of the growth threshold
    (``growth_threshold(capacity)``); 0 disables the prefill. Capped by the key
    budget (64 keys in all)."""
    prefill_contended: float = 0.5
    """Fraction of the contended keys the prefill inserts (the rest are filler)."""

    def check(self) -> None:
        """ValueError naming the knob that is out of range."""
        if not 1 <= self.threads <= MAX_THREADS:
            raise ValueError(f"threads = {self.threads}: need 1..{MAX_THREADS}")
        if not 0 <= self.ops_per_thread <= MAX_OPS:
            raise ValueError(f"ops_per_thread = {self.ops_per_thread}: need 0..{MAX_OPS}")
        lo = self.min_ops_per_thread
        if lo is not None and not 0 <= lo <= self.ops_per_thread:
            raise ValueError(f"min_ops_per_thread = {lo}: need 0..ops_per_thread")
        if not 1 <= self.keys <= MAX_KEYS:
            raise ValueError(f"keys = {self.keys}: need 1..{MAX_KEYS}")
        for name, weights, known in (
            ("key_types", self.key_types, KEY_TYPES),
            ("op_weights", self.op_weights, OP_KINDS),
            ("value_types", self.value_types, VALUE_TYPES),
        ):
            bad = set(weights) - set(known)
            if bad:
                raise ValueError(f"{name}: unknown {', '.join(sorted(bad))}; known: {known}")
            if any(w < 0 for w in weights.values()) or sum(weights.values()) <= 0:
                raise ValueError(f"{name}: weights must be >= 0 with a positive sum")
        if not SIZE_RANGES["bytes"][0] <= self.max_bytes_size <= SIZE_RANGES["bytes"][1]:
            raise ValueError(f"max_bytes_size = {self.max_bytes_size}: need 16..256")
        if self.capacity is not None and not 0 <= self.capacity <= MAX_CAPACITY:
            raise ValueError(f"capacity = {self.capacity}: need 0..{MAX_CAPACITY}")
        for name, f in (
            ("type_twins", self.type_twins),
            ("colliding_keys", self.colliding_keys),
            ("prefill_contended", self.prefill_contended),
        ):
            if not 0.0 <= f <= 1.0:
                raise ValueError(f"{name} = {f}: need 0..1")
        if self.prefill_fraction < 0:
            raise ValueError(f"prefill_fraction = {self.prefill_fraction}: need >= 0")


def _pick(rng: random.Random, weights: Mapping[str, float]) -> str:
    names = [n for n, w in weights.items() if w > 0]
    return rng.choices(names, [weights[n] for n in names])[0]


_WORD = string.ascii_lowercase + string.digits + "_-"


def _random_key(rng: random.Random, ktype: str) -> Key:
    if ktype == "int":
        r = rng.random()
        if r < 0.5:
            return rng.randint(-4, 1000)
        if r < 0.8:
            return rng.getrandbits(64) - (1 << 63)
        return rng.choice((0, -1, 1, 1 << 32, -(1 << 63), (1 << 63) - 1))
    if ktype == "str":
        if rng.random() < 0.1:
            return rng.choice(("", "é", "ключ", "k\x00"))
        return "".join(rng.choice(_WORD) for _ in range(rng.randint(1, 12)))
    return rng.randbytes(rng.randint(0, 16))


def _twin(rng: random.Random, k: Key, ktype: str) -> Key:
    """Key ``k``'s payload under type ``ktype`` (int 42 -> "42" / b"42" and back)."""
    if isinstance(k, int):
        text = str(k)
    elif isinstance(k, str):
        text = k
    else:
        text = k.decode("latin-1")
    if ktype == "int":
        try:
            v = int(text)
        except ValueError:
            v = int.from_bytes(text.encode("utf-8")[:7], "little")
        return max(-(1 << 63), min((1 << 63) - 1, v))
    if ktype == "str":
        return text.encode("utf-8")[:KEY_PAYLOAD].decode("utf-8", "ignore")
    return text.encode("utf-8")[:KEY_PAYLOAD]


def _near_identical(rng: random.Random, n: int) -> list[Key]:
    """n keys of one type whose bytes differ in one position only."""
    ktype = rng.choice(KEY_TYPES)
    if ktype == "int":
        base = rng.getrandbits(56) << 8
        return [base | i for i in range(n)]
    length = rng.randint(4, 20)
    pos = rng.randrange(length)
    fill = bytearray(rng.choice(_WORD).encode() * length)
    out: list[Key] = []
    alphabet = (string.ascii_letters + string.digits).encode()
    for i in range(n):
        b = bytearray(fill)
        b[pos] = alphabet[i % len(alphabet)]
        out.append(b.decode() if ktype == "str" else bytes(b))
    return out


class _KeyPool:
    def __init__(self) -> None:
        self.keys: list[Key] = []
        self.seen: set[bytes] = set()

    def add(self, k: Key) -> bool:
        try:
            enc = encode_key(k)
        except ValueError:
            return False
        if enc in self.seen:
            return False
        self.seen.add(enc)
        self.keys.append(k)
        return True

    def draw(self, rng: random.Random, cfg: GenConfig) -> None:
        for _ in range(1000):
            ktype = _pick(rng, cfg.key_types)
            if self.keys and rng.random() < cfg.type_twins:
                k = _twin(rng, rng.choice(self.keys), ktype)
            else:
                k = _random_key(rng, ktype)
            if self.add(k):
                return
        # the rare case of a tiny key space exhausted by chance: a fresh int always fits
        while not self.add(rng.getrandbits(63)):
            pass


def _value(rng: random.Random, cfg: GenConfig) -> tuple[str, int]:
    vtype = _pick(rng, cfg.value_types)
    if vtype == "str":
        return vtype, rng.randint(9, 15)
    if vtype == "bytes":
        return vtype, rng.randint(16, cfg.max_bytes_size)
    return vtype, SIZE_RANGES[vtype][0]


def _op(rng: random.Random, cfg: GenConfig, nkeys: int) -> Op:
    kind = _pick(rng, cfg.op_weights)
    if kind in ("iterate", "len"):
        return Op(kind)
    key = rng.randrange(nkeys)
    if kind in ("get", "delete"):
        return Op(kind, key)
    vtype, size = _value(rng, cfg)
    return Op(kind, key, vtype, size)


def generate(rng: random.Random, cfg: GenConfig, base: MapConfig | None = None) -> Schedule:
    """A random schedule (valid; deterministic for a given rng state). ``base`` gives
    target and variant; the knobs in ``cfg`` give the rest."""
    cfg.check()
    base = base if base is not None else MapConfig()
    seed = cfg.hash_seed if cfg.hash_seed is not None else rng.getrandbits(64)
    capacity = cfg.capacity if cfg.capacity is not None else rng.choice((0, 8, 16, 32, 64))
    config = MapConfig(base.target, base.variant, seed, capacity)

    pool = _KeyPool()
    ncol = round(cfg.colliding_keys * cfg.keys)
    if ncol >= 2:
        drawn = (
            cfg.collide(rng, config, ncol)
            if cfg.collide is not None
            else _near_identical(rng, ncol)
        )
        for k in drawn:
            pool.add(k)
    while len(pool.keys) < cfg.keys:
        pool.draw(rng, cfg)
    del pool.keys[cfg.keys :]  # a hook may return more keys than asked
    ncontended = len(pool.keys)

    # prefill: distinct keys up to just under the growth threshold
    target_entries = int(cfg.prefill_fraction * growth_threshold(capacity))
    target_entries = min(target_entries, MAX_PREFILL)
    contended = [i for i in range(ncontended) if rng.random() < cfg.prefill_contended]
    contended = contended[:target_entries]
    nfiller = min(target_entries - len(contended), MAX_KEYS - ncontended)
    for _ in range(nfiller):
        pool.draw(rng, cfg)
    filler = list(range(ncontended, len(pool.keys)))
    order = contended + filler
    rng.shuffle(order)
    prefill = tuple(Op("put", k, *_value(rng, cfg)) for k in order)

    threads = []
    for _ in range(cfg.threads):
        n = cfg.ops_per_thread
        if cfg.min_ops_per_thread is not None:
            n = rng.randint(cfg.min_ops_per_thread, cfg.ops_per_thread)
        threads.append(tuple(_op(rng, cfg, ncontended) for _ in range(n)))
    return Schedule(config, tuple(pool.keys), prefill, tuple(threads)).validate()


# ---- the standard schedule ---------------------------------------------------------

STANDARD_SEED = 0x6D61_7066_757A_7A01


def standard_schedule() -> Schedule:
    """3 threads x 16 ops over 8 mixed-type contended keys (corpus/standard.json).

    Capacity 16 gives evacmap two groups, growing past 14 entries. The prefill puts
    13 distinct keys (4 contended, 9 filler ints), so the first insert of one of the
    other contended keys (1, 2, 5, 7; each thread inserts some) starts a growth and
    the threads race with evacuation. Keys 0..2 are type twins (int 42, str "42",
    bytes b"42"); key 7 is the empty string. Values mix every type and size: inline
    str (9..15), out-of-line bytes (16..200), int, float, tuple.
    """
    keys: tuple[Key, ...] = (
        42,
        "42",
        b"42",
        -7,
        "key-4",
        bytes(range(9)),
        1 << 40,
        "",
        *range(100, 109),
    )
    P, PIA, G, D = "put", "put_if_absent", "get", "delete"
    prefill = (
        Op(P, 0, "int"),
        Op(P, 8, "str", 11),
        Op(P, 3, "bytes", 48),
        Op(P, 9, "float"),
        Op(P, 10, "tuple"),
        Op(P, 4, "str", 15),
        Op(P, 11, "int"),
        Op(P, 12, "bytes", 16),
        Op(P, 6, "float"),
        Op(P, 13, "str", 9),
        Op(P, 14, "int"),
        Op(P, 15, "bytes", 120),
        Op(P, 16, "tuple"),
    )
    t0 = (
        Op(P, 1, "str", 12),
        Op(G, 0),
        Op(P, 2, "bytes", 40),
        Op(P, 0, "int"),
        Op(G, 1),
        Op(PIA, 5, "tuple"),
        Op(D, 3),
        Op(G, 2),
        Op(P, 7, "float"),
        Op("iterate"),
        Op(P, 1, "bytes", 200),
        Op(G, 5),
        Op(D, 0),
        Op(P, 3, "str", 9),
        Op("len"),
        Op(G, 7),
    )
    t1 = (
        Op(P, 2, "int"),
        Op(G, 1),
        Op(P, 0, "float"),
        Op(D, 1),
        Op(PIA, 7, "str", 15),
        Op(G, 0),
        Op(P, 5, "bytes", 16),
        Op(G, 3),
        Op(P, 4, "tuple"),
        Op("iterate"),
        Op(P, 1, "int"),
        Op(G, 2),
        Op(D, 5),
        Op(P, 6, "bytes", 64),
        Op(G, 4),
        Op("len"),
    )
    t2 = (
        Op(G, 2),
        Op(P, 1, "float"),
        Op(PIA, 2, "tuple"),
        Op(G, 0),
        Op(P, 3, "bytes", 100),
        Op(D, 4),
        Op(G, 1),
        Op(P, 5, "str", 10),
        Op("len"),
        Op(P, 0, "bytes", 17),
        Op(G, 7),
        Op(D, 2),
        Op(PIA, 4, "int"),
        Op(G, 5),
        Op("iterate"),
        Op(P, 7, "tuple"),
    )
    config = MapConfig("evacmap", None, STANDARD_SEED, 16)
    return Schedule(config, keys, prefill, (t0, t1, t2)).validate()


def key_role(cfg: GenConfig, index: int | None) -> str | None:
    """The part a key of a generated schedule plays, from its index in ``keys``:
    ``"colliding"`` (a contended key drawn to share a hash home), ``"contended"``
    (the pool the threads draw from) or ``"filler"`` (prefill only); None for None."""
    if index is None:
        return None
    ncol = round(cfg.colliding_keys * cfg.keys)
    if ncol >= 2 and index < ncol:
        return "colliding"
    return "contended" if index < cfg.keys else "filler"
