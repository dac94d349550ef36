"""Hypothesis strategies for mapfuzz schedules (public API).

Two families:

* ``schedules()``: any valid schedule within small bounds (every op kind, key type,
  value type and size; an arbitrary config). For codec and model properties.
* ``contended_schedules()``: schedules shaped like the bugs a concurrent map has:
  2..4 threads over a handful of shared keys, a prefill that brings the map close to
  its first growth, so the threads' inserts start an evacuation while they run.
  For properties that run schedules on a real target (``harness.frontends.properties``).

Both draw everything in the calling thread and return plain immutable values, so a
test can run the schedule on real threads afterwards and a failure shrinks and
replays deterministically (the controlled-mode scheduler seed is drawn too: see
``scheduler_seeds()``).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

from hypothesis import strategies as st

from harness.data.schedule import (
    BYTES_MAX_KEYS,
    MAX_CAPACITY,
    OP_KINDS,
    MapConfig,
    Op,
    Schedule,
)
from harness.data.values import SIZE_RANGES, VALUE_TYPES, Key, MyInt, encode_key
from harness.search.generate import growth_threshold

__all__ = [
    "contended_schedules",
    "keys",
    "map_configs",
    "ops",
    "scheduler_seeds",
    "schedules",
    "type_twins",
]

MAX_SCHEDULER_SEED = (1 << 63) - 1
"""Scheduler seeds are 63-bit, like the random engine's (``RandomEngine.run_spec``)."""


def keys() -> st.SearchStrategy[Key]:
    """Any valid key: 64-bit ints (small ones often), short str and bytes keys, and
    keys of the named integer type (``MyInt``)."""
    return st.one_of(
        st.integers(-3, 300),
        st.integers(-(1 << 63), (1 << 63) - 1),
        st.text(max_size=12).filter(lambda s: len(s.encode()) <= 31),
        st.binary(max_size=31),
        st.builds(MyInt, st.integers(-(1 << 63), (1 << 63) - 1)),
    )


def type_twins() -> st.SearchStrategy[tuple[Key, Key, Key, Key]]:
    """Four keys with one payload under each key type: ``(42, MyInt(42), "42",
    b"42")``. A map must keep them apart (four keys, four values)."""
    return st.integers(-(1 << 63), (1 << 63) - 1).map(
        lambda n: (n, MyInt(n), str(n), str(n).encode()))


_SIZES = {t: st.integers(lo, hi) for t, (lo, hi) in SIZE_RANGES.items()}


@st.composite
def _ops(
    draw: st.DrawFn,
    kind_st: st.SearchStrategy[str],
    key_st: st.SearchStrategy[int],
    vtype_st: st.SearchStrategy[str],
) -> Op:
    kind = draw(kind_st)
    if kind in ("iterate", "len"):
        return Op(kind)
    key = draw(key_st)
    if kind in ("get", "delete"):
        return Op(kind, key)
    vtype = draw(vtype_st)
    return Op(kind, key, vtype, draw(_SIZES[vtype]))


@functools.lru_cache(maxsize=1024)
def _ops_cached(
    nkeys: int, kinds: tuple[str, ...], vtypes: tuple[str, ...]
) -> st.SearchStrategy[Op]:
    return _ops(st.sampled_from(kinds), st.integers(0, nkeys - 1), st.sampled_from(vtypes))


def ops(
    nkeys: int, kinds: Sequence[str] = OP_KINDS, vtypes: Sequence[str] = VALUE_TYPES
) -> st.SearchStrategy[Op]:
    """One valid op over keys ``0..nkeys-1`` (kinds and value types restricted as given).
    Strategies are cached: building them anew inside a draw is what makes hypothesis slow."""
    return _ops_cached(nkeys, tuple(kinds), tuple(vtypes))


def map_configs(
    targets: Sequence[str] = ("evacmap", "other"),
    variants: Sequence[str | None] = (None, "lost-write", "torn"),
    capacities: st.SearchStrategy[int] | None = None,
) -> st.SearchStrategy[MapConfig]:
    """Configs over the given target and variant names; any hash seed."""
    return st.builds(
        MapConfig,
        target=st.sampled_from(tuple(targets)),
        variant=st.sampled_from(tuple(variants)),
        hash_seed=st.integers(0, (1 << 64) - 1),
        capacity=capacities if capacities is not None else st.integers(0, MAX_CAPACITY),
    )


@st.composite
def schedules(
    draw: st.DrawFn,
    max_threads: int = 4,
    max_ops: int = 12,
    max_prefill: int = 8,
    config: MapConfig | st.SearchStrategy[MapConfig] | None = None,
) -> Schedule:
    """Valid schedules; the ``max_*`` bounds keep examples small (the limits are larger).
    ``config``: a fixed config, a strategy, or None for ``map_configs()``."""
    pool = draw(st.lists(keys(), min_size=1, max_size=10, unique_by=encode_key))
    n = len(pool)
    if config is None:
        cfg = draw(map_configs())
    elif isinstance(config, MapConfig):
        cfg = config
    else:
        cfg = draw(config)
    prefill = draw(st.lists(ops(n, ("put",)), max_size=max_prefill))
    threads = draw(st.lists(st.lists(ops(n), max_size=max_ops), min_size=1, max_size=max_threads))
    s = Schedule(cfg, tuple(pool), tuple(prefill), tuple(tuple(t) for t in threads))
    return s.validate()


_CONTENDED_OPS = ("get", "put", "put", "put_if_absent", "delete", "delete", "iterate", "len")
"""Op kinds of contended schedules, writes weighted up (sampled uniformly from this)."""


_CAPACITIES = st.sampled_from((8, 0, 16, 32))
_HASH_SEEDS = st.integers(0, (1 << 64) - 1)
_SHARED_KEY: st.SearchStrategy[Key] = st.one_of(
    st.integers(0, 64),
    st.text("abc", min_size=1, max_size=3),
    st.binary(min_size=1, max_size=3),
    st.integers(0, 64).map(MyInt),
)


@functools.lru_cache(maxsize=256)
def _shared_keys(n: int) -> st.SearchStrategy[list[Key]]:
    return st.lists(_SHARED_KEY, min_size=n, max_size=n, unique_by=encode_key)


@functools.lru_cache(maxsize=256)
def _extra_prefill(n: int) -> st.SearchStrategy[list[Op]]:
    return st.lists(ops(n, ("put",)), max_size=3)


@functools.lru_cache(maxsize=1024)
def _thread_lists(
    n: int, kinds: tuple[str, ...], lo: int, hi: int, max_ops: int
) -> st.SearchStrategy[list[list[Op]]]:
    return st.lists(st.lists(ops(n, kinds), min_size=1, max_size=max_ops), min_size=lo, max_size=hi)


@st.composite
def contended_schedules(
    draw: st.DrawFn,
    target: str = "evacmap",
    variant: str | None = None,
    *,
    min_threads: int = 2,
    max_threads: int = 4,
    max_ops: int = 12,
    max_keys: int = 6,
    kinds: Sequence[str] = OP_KINDS,
) -> Schedule:
    """Schedules that stress a map: a few threads on a few shared keys, with the map
    prefilled up to just under its first growth (``harness.search.generate.growth_threshold``)
    from filler keys, so the threads' inserts trigger an evacuation mid-run.

    ``kinds`` limits the op kinds (a target without put_if_absent or concurrent
    iterate: leave them out). Shrinks towards fewer threads, fewer ops, small
    int keys, ints as values and no prefill.
    """
    allowed = tuple(k for k in _CONTENDED_OPS if k in kinds) or ("get",)
    nkeys = draw(st.integers(1, max_keys))
    shared: list[Key] = draw(_shared_keys(nkeys))
    capacity = draw(_CAPACITIES)
    fill = draw(st.integers(0, min(growth_threshold(capacity), BYTES_MAX_KEYS - nkeys)))
    seen = {encode_key(k) for k in shared}
    filler: list[Key] = []
    i = 0
    while len(filler) < fill:
        k = 1000 + i
        i += 1
        if encode_key(k) not in seen:
            filler.append(k)
    pool = shared + filler
    prefill = [Op("put", nkeys + j, "int") for j in range(fill)]
    prefill += draw(_extra_prefill(nkeys))
    threads = draw(_thread_lists(nkeys, allowed, min_threads, max_threads, max_ops))
    cfg = MapConfig(
        target=target,
        variant=variant,
        hash_seed=draw(_HASH_SEEDS),
        capacity=capacity,
    )
    return Schedule(cfg, tuple(pool), tuple(prefill), tuple(tuple(t) for t in threads)).validate()


def scheduler_seeds() -> st.SearchStrategy[int]:
    """Controlled-mode scheduler seeds (63-bit); shrink towards 0."""
    return st.integers(0, MAX_SCHEDULER_SEED)
