"""Random schedule generation (the standard schedule, corpus/standard.json, lives in
harness.search.standard and is re-exported here).

``generate(rng, cfg, base)`` draws a schedule from the knobs in ``GenConfig``; it is
deterministic for a given ``random.Random`` state. The shape it aims for:

* a small pool of contended keys (indices ``0 .. cfg.keys - 1``) of mixed types, that
  all threads' ops draw from, so threads collide on keys; optionally keys whose
  hashes collide (``colliding_keys``; near-identical bytes, or a ``collide`` hook that
  knows the target's hash) and "type twins" (int 42, MyInt(42), str "42", bytes b"42");
* a prefill that leaves the map just under its growth threshold, with filler keys
  (indices after the contended ones), so the parallel phase's inserts start a growth
  and the threads race with evacuation;
* optionally fresh keys (after the filler), each inserted once by one of the threads,
  so that a large prefill is followed by enough inserts to cross a growth.

Swarm testing (``GenConfig.swarm``, the random engine's default): each schedule first
draws its own shape (``draw_shape``): threads, contended keys, prefill size, fresh keys,
ops per thread, capacity hint, value-size and op mixes. Most prefills are aimed just
under a growth: one the target reported in a calibration probe (``GenConfig.growths``,
harness.search.calibrate), else a modelled one; others are sized on a log scale up to
about 2,000 keys with fresh keys in proportion. A map whose first growth comes anywhere
between a few and a thousand inserts then grows during the parallel phase in a good
share of executions without the user guessing its threshold; ``pinned`` keeps the
knobs the user set.
"""

from __future__ import annotations

import bisect
import itertools
import math
import random
import string
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace

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
from harness.data.values import (
    KEY_PAYLOAD,
    KEY_TYPES,
    SIZE_RANGES,
    VALUE_TYPES,
    Key,
    MyInt,
    encode_key,
)
from harness.search.standard import STANDARD_SEED as STANDARD_SEED
from harness.search.standard import standard_schedule as standard_schedule

CollideHook = Callable[[random.Random, MapConfig, int], Sequence[Key]]
"""``collide(rng, config, n)``: n distinct keys whose hashes collide (share a home
group / hash fragment) under ``config.hash_seed`` for ``config.target``."""

GROUP_SLOTS = 8
"""Slots per group in evacmap."""

MAX_CONTENDED = 320
"""Contended keys (the threads' shared pool) a schedule may have."""
SWARM_MAX_PREFILL = 2000
"""Largest prefill (distinct keys) a swarm shape draws."""
SWARM_MAX_FRESH = 1000
"""Largest number of fresh keys a swarm shape's threads insert."""
CLASSIC_SHARE = 0.4
"""Share of swarm schedules that keep the configured (classic) shape."""


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
    return {"int": 1, "str": 1, "bytes": 1, "myint": 0.5}


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
    """Weights of int / str / bytes / myint (a named integer type) keys."""
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
    budget (MAX_KEYS in all)."""
    prefill_contended: float = 0.5
    """Fraction of the contended keys the prefill inserts (the rest are filler)."""
    prefill_keys: int | None = None
    """Distinct keys the prefill inserts; overrides ``prefill_fraction`` when set."""
    fresh_keys: int = 0
    """Keys never prefilled that the threads insert once each, spread over the
    threads at random positions (on top of ``ops_per_thread``, at most MAX_OPS a
    thread): enough inserts after a big prefill to cross a growth."""
    swarm: bool = False
    """Draw each schedule's shape first (``draw_shape``); knobs named in ``pinned``
    keep the values set here."""
    pinned: frozenset[str] = frozenset()
    """Swarm: the knobs not drawn (``threads``, ``ops_per_thread``, ``keys``,
    ``capacity``)."""
    growths: tuple[int, ...] = ()
    """Swarm: insert counts at which the target began a growth in a sequential probe
    (harness.search.calibrate) under capacity hint ``growths_capacity``; aimed shapes
    stop their prefill just under one of them. Empty: aim at modelled thresholds."""
    growths_capacity: int = 0

    def check(self) -> None:
        """ValueError naming the knob that is out of range."""
        if not 1 <= self.threads <= MAX_THREADS:
            raise ValueError(f"threads = {self.threads}: need 1..{MAX_THREADS}")
        if not 0 <= self.ops_per_thread <= MAX_OPS:
            raise ValueError(f"ops_per_thread = {self.ops_per_thread}: need 0..{MAX_OPS}")
        lo = self.min_ops_per_thread
        if lo is not None and not 0 <= lo <= self.ops_per_thread:
            raise ValueError(f"min_ops_per_thread = {lo}: need 0..ops_per_thread")
        if not 1 <= self.keys <= MAX_CONTENDED:
            raise ValueError(f"keys = {self.keys}: need 1..{MAX_CONTENDED}")
        for name, n in (("prefill_keys", self.prefill_keys), ("fresh_keys", self.fresh_keys)):
            if n is not None and not 0 <= n <= MAX_PREFILL // 2:
                raise ValueError(f"{name} = {n}: need 0..{MAX_PREFILL // 2}")
        bad_pins = set(self.pinned) - set(SWARM_KNOBS)
        if bad_pins:
            raise ValueError(f"pinned: unknown {', '.join(sorted(bad_pins))}; knobs: "
                             f"{', '.join(SWARM_KNOBS)}")
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


class _Weighted:
    """A weighted choice among names, its cumulative weights computed once (a
    schedule draws thousands); ``pick`` draws exactly as ``rng.choices`` would."""

    __slots__ = ("cum", "hi", "names", "total")

    def __init__(self, weights: Mapping[str, float]) -> None:
        self.names = [n for n, w in weights.items() if w > 0]
        self.cum = list(itertools.accumulate(weights[n] for n in self.names))
        self.total = self.cum[-1] + 0.0
        self.hi = len(self.names) - 1

    def pick(self, rng: random.Random) -> str:
        return self.names[bisect.bisect(self.cum, rng.random() * self.total, 0, self.hi)]


@dataclass(frozen=True, slots=True)
class _Mix:
    """The weighted choices of one schedule's config."""

    keys: _Weighted
    ops: _Weighted
    values: _Weighted
    max_bytes_size: int

    @staticmethod
    def of(cfg: GenConfig) -> _Mix:
        return _Mix(_Weighted(cfg.key_types), _Weighted(cfg.op_weights),
                    _Weighted(cfg.value_types), cfg.max_bytes_size)


_WORD = string.ascii_lowercase + string.digits + "_-"


def _random_key(rng: random.Random, ktype: str) -> Key:
    if ktype == "myint":
        k = _random_key(rng, "int")
        assert isinstance(k, int)
        return MyInt(k)
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
    """Key ``k``'s payload under type ``ktype`` (int 42 -> MyInt(42) / "42" / b"42"
    and back)."""
    if isinstance(k, int):
        text = str(k)
    elif isinstance(k, MyInt):
        text = str(k.value)
    elif isinstance(k, str):
        text = k
    else:
        text = k.decode("latin-1")
    if ktype in ("int", "myint"):
        try:
            v = int(text)
        except ValueError:
            v = int.from_bytes(text.encode("utf-8")[:7], "little")
        v = max(-(1 << 63), min((1 << 63) - 1, v))
        return MyInt(v) if ktype == "myint" else v
    if ktype == "str":
        return text.encode("utf-8")[:KEY_PAYLOAD].decode("utf-8", "ignore")
    return text.encode("utf-8")[:KEY_PAYLOAD]


def _near_identical(rng: random.Random, n: int) -> list[Key]:
    """n keys of one type whose bytes differ in one position only."""
    ktype = rng.choice(KEY_TYPES)
    if ktype in ("int", "myint"):
        base = rng.getrandbits(56) << 8
        return [MyInt(base | i) if ktype == "myint" else base | i for i in range(n)]
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

    def draw(self, rng: random.Random, cfg: GenConfig, mix: _Mix) -> None:
        for _ in range(1000):
            ktype = mix.keys.pick(rng)
            if self.keys and rng.random() < cfg.type_twins:
                k = _twin(rng, rng.choice(self.keys), ktype)
            else:
                k = _random_key(rng, ktype)
            if self.add(k):
                return
        # the rare case of a tiny key space exhausted by chance: a fresh int always fits
        while not self.add(rng.getrandbits(63)):
            pass

    def filler(self, rng: random.Random) -> None:
        """A cheap random key of any type (big prefills: thousands of keys)."""
        while True:
            x = rng.getrandbits(64)
            k: Key = (x >> 1) - (1 << 62) if x & 1 else \
                (f"f{x >> 2:x}" if x & 2 else (x >> 2).to_bytes(8, "little"))
            if self.add(k):
                return


def _value(rng: random.Random, mix: _Mix) -> tuple[str, int]:
    vtype = mix.values.pick(rng)
    if vtype == "str":
        return vtype, rng.randint(9, 15)
    if vtype == "bytes":
        return vtype, rng.randint(16, mix.max_bytes_size)
    return vtype, SIZE_RANGES[vtype][0]


def _op(rng: random.Random, mix: _Mix, nkeys: int) -> Op:
    kind = mix.ops.pick(rng)
    if kind in ("iterate", "len"):
        return Op(kind)
    key = rng.randrange(nkeys)
    if kind in ("get", "delete"):
        return Op(kind, key)
    vtype, size = _value(rng, mix)
    return Op(kind, key, vtype, size)


SWARM_KNOBS = ("threads", "ops_per_thread", "keys", "capacity")


def _log_uniform(rng: random.Random, lo: float, hi: float) -> int:
    return round(math.exp(rng.uniform(math.log(lo), math.log(hi))))


AIMED_SHARE = 0.45
"""Share of swarm shapes whose prefill is aimed just under a growth threshold."""
LOAD_FACTORS = (0.5, 0.75, 0.8125, 0.875, 1.0)
"""Load factors real maps grow at (a table of 2^k slots grows at f * 2^k entries):
0.5 (many open-addressing tables), 0.75 (Java), 6.5/8 (Go's buckets), 7/8 (Swiss
tables, hashbrown), 1.0 (chained tables)."""


def _aim(rng: random.Random, cfg: GenConfig, capacity: int) -> int:
    """An insert count at which the map is likely to begin a growth: one the target
    reported in its calibration probe (``cfg.growths``) if any, else evacmap's model
    for this capacity hint or a load factor times 2^k. Big ones cost the oracle time
    in proportion: a calibrated count t is drawn with weight 1/t (each doubling
    costs the same time), k with weight 2^(-k/2)."""
    counts = [t for t in cfg.growths if 1 < t <= SWARM_MAX_PREFILL + 1]
    if counts:
        return rng.choices(counts, [1 / t for t in counts])[0]
    if rng.random() < 0.3:
        return growth_threshold(capacity) + 1
    k = rng.choices(_POWERS, _POWER_WEIGHTS)[0]
    return int(rng.choice(LOAD_FACTORS) * (1 << k))


_POWERS = tuple(range(3, 12))
_POWER_WEIGHTS = tuple(2 ** (-k / 2) for k in _POWERS)


def _draw_growth(rng: random.Random, cfg: GenConfig, capacity: int,
                 shape: dict[str, object]) -> tuple[int, int]:
    """(prefill keys, fresh keys) of a swarm shape; may pin the shape's capacity hint
    to the calibration probe's.

    Aimed (``AIMED_SHARE``): the prefill stops d inserts short of a likely growth
    (``_aim``) and the threads insert F fresh keys (8..32), d < F / 2, so the
    parallel phase crosses it even when its deletes undo some inserts. Else the prefill is empty,
    or sized for a total of E inserts (prefill P plus fresh keys, E/P between 1.3
    and 2.5) with E on a log scale: small (up to 64) mostly, else up to
    SWARM_MAX_PREFILL + SWARM_MAX_FRESH (15% of shapes, 7% with a calibration); a
    map that grows at T, 2T, 4T ... is crossed whenever E >= T, most of the time,
    whatever T is.
    """
    r = rng.random()
    if r < AIMED_SHARE:
        if cfg.growths and "capacity" not in cfg.pinned:
            shape["capacity"] = capacity = cfg.growths_capacity
        fresh = rng.randint(8, 32)
        t = _aim(rng, cfg, capacity)
        # pinned ops or keys leave no fresh inserts: stop one short
        slack = 1 if {"ops_per_thread", "keys"} & cfg.pinned else fresh // 2
        return max(0, t - 1 - rng.randrange(slack)), fresh
    if r < AIMED_SHARE + 0.05:
        return 0, rng.randint(0, 8)
    # big prefills cost the oracle time in proportion, so they are the rare kind;
    # rarer still when the calibration already aims at the target's big thresholds
    hi = 64 if r < (0.93 if cfg.growths else 0.85) else SWARM_MAX_PREFILL + SWARM_MAX_FRESH
    total = _log_uniform(rng, 8 if hi == 64 else 64, hi)
    prefill = round(total / rng.uniform(1.3, 2.5))
    return prefill, total - prefill


def draw_shape(rng: random.Random, cfg: GenConfig) -> GenConfig:
    """One swarm shape: ``cfg`` with its shape knobs drawn (the ones in ``cfg.pinned``
    kept), ``swarm`` off. Deterministic for a given rng state."""
    pin = cfg.pinned
    shape: dict[str, object] = {"swarm": False}
    if rng.random() < CLASSIC_SHARE:
        # the classic shape (cfg's own knobs: a few threads on a few keys, prefill
        # aimed just under the modelled first growth): cheap, and tuned to evacmap-
        # like tables
        return replace(cfg, swarm=False)
    r = rng.random()
    capacity = (0 if r < 0.3 else rng.randint(1, GROUP_SLOTS - 1) if r < 0.45
                else _log_uniform(rng, GROUP_SLOTS, 256))
    if "capacity" not in pin:
        shape["capacity"] = capacity
    else:
        capacity = cfg.capacity if cfg.capacity is not None else 8
    if "threads" not in pin:
        shape["threads"] = rng.randint(2, 4) if rng.random() < 0.9 else rng.randint(5, 6)
    if "keys" not in pin:
        r = rng.random()
        shape["keys"] = (_log_uniform(rng, 2, 12) if r < 0.5 else _log_uniform(rng, 12, 48)
                         if r < 0.85 else _log_uniform(rng, 48, MAX_CONTENDED))
    if "ops_per_thread" not in pin:
        shape["ops_per_thread"] = (_log_uniform(rng, 4, 24) if rng.random() < 0.9
                                   else _log_uniform(rng, 24, 96))
    prefill, fresh = _draw_growth(rng, cfg, capacity, shape)
    shape["prefill_keys"] = min(prefill, SWARM_MAX_PREFILL)
    # fresh inserts add ops and keys: none when the user pinned either
    pinned_ops = "ops_per_thread" in pin or "keys" in pin
    shape["fresh_keys"] = 0 if pinned_ops else min(fresh, SWARM_MAX_FRESH)
    # value sizes: all types, or a few; long bytes values short or up to 256
    vtypes = [t for t in VALUE_TYPES if rng.random() < 0.6] or [rng.choice(VALUE_TYPES)]
    shape["value_types"] = {t: rng.uniform(0.5, 2.0) for t in vtypes}
    shape["max_bytes_size"] = rng.choice((16, 64, 256))
    # op mix: the configured weights (the target's allowed kinds) rescaled, with
    # put kept so that the map can grow
    ops = {k: w * rng.uniform(0.2, 2.5) for k, w in cfg.op_weights.items() if w > 0}
    if prefill > 256:
        ops.pop("iterate", None)   # each would copy the whole map: costly, and rarely new
    for k in list(ops):
        if k != "put" and len(ops) > 1 and rng.random() < 0.15:
            del ops[k]
    shape["op_weights"] = ops
    return replace(cfg, **shape)  # type: ignore[arg-type]


def generate(rng: random.Random, cfg: GenConfig, base: MapConfig | None = None) -> Schedule:
    """A random schedule (valid; deterministic for a given rng state). ``base`` gives
    target and variant; the knobs in ``cfg`` give the rest (a swarm config draws
    them first)."""
    cfg.check()
    if cfg.swarm:
        cfg = draw_shape(rng, cfg)
    base = base if base is not None else MapConfig()
    seed = cfg.hash_seed if cfg.hash_seed is not None else rng.getrandbits(64)
    capacity = cfg.capacity if cfg.capacity is not None else rng.choice((0, 8, 16, 32, 64))
    config = MapConfig(base.target, base.variant, seed, capacity)
    mix = _Mix.of(cfg)

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
        pool.draw(rng, cfg, mix)
    del pool.keys[cfg.keys :]  # a hook may return more keys than asked
    ncontended = len(pool.keys)

    # prefill: distinct keys up to just under the growth threshold
    if cfg.prefill_keys is not None:
        target_entries = cfg.prefill_keys
    else:
        target_entries = int(cfg.prefill_fraction * growth_threshold(capacity))
    target_entries = min(target_entries, MAX_PREFILL)
    contended = [i for i in range(ncontended) if rng.random() < cfg.prefill_contended]
    contended = contended[:target_entries]
    nfiller = min(target_entries - len(contended), MAX_KEYS - ncontended)
    for i in range(nfiller):
        if i < 64:
            pool.draw(rng, cfg, mix)
        else:
            pool.filler(rng)
    filler = list(range(ncontended, len(pool.keys)))
    order = contended + filler
    rng.shuffle(order)
    prefill = tuple(Op("put", k, *_value(rng, mix)) for k in order)

    threads: list[list[Op]] = []
    for _ in range(cfg.threads):
        n = cfg.ops_per_thread
        if cfg.min_ops_per_thread is not None:
            n = rng.randint(cfg.min_ops_per_thread, cfg.ops_per_thread)
        threads.append([_op(rng, mix, ncontended) for _ in range(n)])
    # fresh keys: each inserted once, by a thread with room left, at a random place
    room = sum(MAX_OPS - len(t) for t in threads)
    for i in range(min(cfg.fresh_keys, MAX_KEYS - len(pool.keys), room)):
        if i < 64:
            pool.draw(rng, cfg, mix)
        else:
            pool.filler(rng)
        t = rng.choice([t for t in threads if len(t) < MAX_OPS])
        kind = "put_if_absent" if cfg.op_weights.get("put_if_absent", 0) and \
            rng.random() < 0.2 else "put"
        t.insert(rng.randint(0, len(t)), Op(kind, len(pool.keys) - 1, *_value(rng, mix)))
    return Schedule(config, tuple(pool.keys), prefill,
                    tuple(tuple(t) for t in threads)).validate()


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
