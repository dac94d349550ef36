"""syncmap (sync.Map's design, csrc/syncmap.c) and rwmap (csrc/rwmap.c), driven
directly through cffi (null host, one thread).

The correct maps are compared with a Python dict, with the map's own invariant check
after every step; for syncmap the sequences are built so that promotions (dirty
published as read) really happen, by misses and by Range, and the tests count them.
The invariant checker is shown to catch the corrupted states two seeded bugs leave.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import pytest
from direct_map import DirectMap, rand_key, rand_value, run_model
from harness._mapfuzz_c import ffi, lib

SM = lib.mf_syncmap()
RW = lib.mf_rwmap()

SYNCMAP_VARIANTS = [
    "store-ignores-expunged",
    "dirty-copy-no-expunge",
    "load-or-store-stale-view",
    "delete-skips-dirty",
    "range-promotes-stale-view",
    "misses-outside-lock",
    "load-miss-no-recheck",
]


def variant_names(table: Any) -> list[str]:
    names: list[str] = []
    if table.variants == ffi.NULL:
        return names
    while table.variants[len(names)] != ffi.NULL:
        names.append(ffi.string(table.variants[len(names)]).decode())
    return names


@pytest.fixture
def maps() -> Iterator[Any]:
    made: list[DirectMap] = []

    def make(table: Any, seed: int = 0, cap: int = 0, variant: str | None = None) -> DirectMap:
        index = 0 if variant is None else variant_names(table).index(variant) + 1
        m = DirectMap(table, seed, cap, index)
        made.append(m)
        return m

    yield make
    for m in made:
        if m.m != ffi.NULL:
            m.close()


def promotions(m: DirectMap) -> int:
    return int(lib.mf_syncmap_promotions(m.m))


def test_variants_are_listed() -> None:
    assert variant_names(SM) == SYNCMAP_VARIANTS
    assert variant_names(RW) == []
    assert not SM.caps & lib.MF_CAP_EXACT_LEN  # len counts a Range, as sync.Map has no Len
    assert RW.caps & lib.MF_CAP_EXACT_LEN


@pytest.mark.parametrize("table", [SM, RW], ids=["syncmap", "rwmap"])
@pytest.mark.parametrize("seed", [0, 1, 0xDEADBEEF])
def test_matches_dict_model_with_len_and_iteration(maps, table, seed):
    """len and iterate after every step: for syncmap every step with a new key
    amends the view and the next len promotes it (Range promotes)."""
    m = maps(table, seed)
    before = promotions(m) if table == SM else 0
    inserted = run_model(m, random.Random(seed), 2000, pool=300, churn=False)
    assert inserted > 300
    if table == SM:
        assert promotions(m) - before > 100


@pytest.mark.parametrize("seed", [3, 4, 5])
def test_syncmap_promotes_by_misses(maps, seed):
    """No Range and no len until the end: only misses promote. Gets of keys stored
    since the last promotion miss the read view; every len(dirty) misses promote."""
    rng = random.Random(seed)
    m = maps(SM, seed)
    model: dict[bytes, bytes] = {}
    recent: list[bytes] = []
    for step in range(3000):
        k = rand_key(rng, 40 + step // 4)  # new keys keep arriving
        x = rng.random()
        if x >= 0.55 and recent and rng.random() < 0.5:
            k = rng.choice(recent)  # a key stored lately: in dirty only, until promoted
        if x < 0.3:
            v = rand_value(rng)
            assert m.put(k, v) == ((1, model[k]) if k in model else (0, None)), step
            if k not in model:
                recent = [*recent[-9:], k]
            model[k] = v
        elif x < 0.4:
            v = rand_value(rng)
            r, cur = m.put_if_absent(k, v)
            assert (r, cur) == ((0, model[k]) if k in model else (1, None)), step
            model.setdefault(k, v)
        elif x < 0.55:
            assert m.delete(k) == ((1, model.pop(k)) if k in model else (0, None)), step
        else:
            assert m.get(k) == model.get(k), step
        assert m.check() is None, (step, m.check())
    by_misses = promotions(m)
    assert by_misses >= 5, by_misses  # each needs len(dirty) misses: hundreds of keys
    assert dict(m.items()) == model
    assert m.len() == len(model)


def test_syncmap_expunged_entry_is_revived_through_the_lock(maps):
    """The expunge cycle: a deleted read entry is expunged when a new key builds the
    dirty map; storing the key again un-expunges it under the lock and re-adds it to
    dirty, so the next promotion keeps it."""
    m = maps(SM)
    k, j = b"sk", b"sj"
    assert m.put(k, b"i" + bytes(8)) == (0, None)
    m.items()  # Range promotes: k is in read
    assert promotions(m) == 1
    assert m.delete(k)[0] == 1
    assert m.put(j, b"i" + bytes([1]) * 8) == (0, None)  # dirtyLocked expunges k
    assert m.put(k, b"i" + bytes([2]) * 8) == (0, None)
    assert m.check() is None
    m.items()
    assert promotions(m) == 2
    assert m.get(k) == b"i" + bytes([2]) * 8


@pytest.mark.parametrize("variant", ["store-ignores-expunged", "dirty-copy-no-expunge"])
def test_checker_catches_a_store_outside_dirty(maps, variant):
    """Both bugs let a lock-free store land in a read entry that no dirty map holds:
    the checker reports S3 at once, and the next promotion drops the key."""
    m = maps(SM, variant=variant)
    k, j = b"sk", b"sj"
    m.put(k, b"i" + bytes(8))
    m.items()
    m.delete(k)
    m.put(j, b"i" + bytes([1]) * 8)
    m.put(k, b"i" + bytes([2]) * 8)
    msg = m.check()
    assert msg is not None and "violates S3" in msg, msg
    m.items()
    assert m.get(k) is None  # the write was lost


def test_int_str_bytes_are_three_keys(maps):
    for table in (SM, RW):
        m = maps(table)
        keys = [b"i" + (42).to_bytes(8, "little", signed=True), b"s42", b"b42"]
        for n, k in enumerate(keys):
            assert m.put(k, b"i" + bytes([n]) * 8) == (0, None)
        assert [m.get(k) for k in keys] == [b"i" + bytes([n]) * 8 for n in range(3)]
        assert m.len() == 3
