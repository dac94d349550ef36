"""evacmap, the built-in C target, driven directly through cffi (null host, one thread).

The correct map (variant 0) is compared with a Python dict on long random
sequences that cross many growths (doubling and same-size), with the map's own
invariant check after every step. Seeded bugs are checked for being listed,
selectable, and, where a bug is reachable without concurrency, for really
producing the failure they are meant to produce.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterator

import pytest
from harness._mapfuzz_c import ffi, lib

T = lib.mf_evacmap()
SEQUENTIAL_BUGS = {"delete-absent-decrements", "iter-no-home-filter"}
"""Seeded bugs reachable by one thread; every other one needs an interleaving."""


def variants() -> list[str]:
    names = []
    i = 0
    while T.variants[i] != ffi.NULL:
        names.append(ffi.string(T.variants[i]).decode())
        i += 1
    return names


class Map:
    """Thin wrapper: every call returns what the C function returned, plus bytes."""

    def __init__(self, seed: int = 0, cap: int = 0, variant: int = 0) -> None:
        self.m = T.create(lib.mf_host_null(), seed, cap, variant)
        assert self.m != ffi.NULL
        self.buf = ffi.new("uint8_t[]", lib.MF_MAX_VALUE)
        self.n = ffi.new("size_t *")
        self.msg = ffi.new("char[]", 512)

    def close(self) -> None:
        T.destroy(self.m)
        self.m = ffi.NULL

    def _out(self, r: int) -> tuple[int, bytes | None]:
        assert r >= 0, f"target error {r}"
        return r, (bytes(ffi.buffer(self.buf, self.n[0])) if r else None)

    def get(self, k: bytes) -> bytes | None:
        r = T.get(self.m, k, len(k), self.buf, self.n)
        assert r in (0, 1)
        return bytes(ffi.buffer(self.buf, self.n[0])) if r else None

    def put(self, k: bytes, v: bytes) -> tuple[int, bytes | None]:
        return self._out(T.put(self.m, k, len(k), v, len(v), self.buf, self.n))

    def put_if_absent(self, k: bytes, v: bytes) -> tuple[int, bytes | None]:
        r = T.put_if_absent(self.m, k, len(k), v, len(v), self.buf, self.n)
        assert r in (0, 1)
        return r, (None if r else bytes(ffi.buffer(self.buf, self.n[0])))

    def delete(self, k: bytes) -> tuple[int, bytes | None]:
        return self._out(getattr(T, "del")(self.m, k, len(k), self.buf, self.n))

    def len(self) -> int:
        return int(T.len(self.m))

    def items(self) -> list[tuple[bytes, bytes]]:
        out: list[tuple[bytes, bytes]] = []

        @ffi.callback("int(void *, const uint8_t *, size_t, const uint8_t *, size_t)")
        def visit(ctx, k, kn, v, vn):  # type: ignore[no-untyped-def]
            out.append((bytes(ffi.buffer(k, kn)), bytes(ffi.buffer(v, vn))))
            return 0

        assert T.iterate(self.m, visit, ffi.NULL) == 0
        return out

    def check(self) -> str | None:
        if T.check(self.m, self.msg, 512) == 0:
            return None
        return ffi.string(self.msg).decode()


@pytest.fixture
def new_map() -> Iterator[type[Map]]:
    made: list[Map] = []

    def make(*a: int, **kw: int) -> Map:
        m = Map(*a, **kw)
        made.append(m)
        return m

    yield make  # type: ignore[misc]
    for m in made:
        if m.m != ffi.NULL:
            m.close()


def rand_key(rng: random.Random, pool: int) -> bytes:
    tag = rng.choice(b"isb")
    payload = str(rng.randrange(pool)).encode()
    if rng.random() < 0.1:
        payload = payload * rng.randrange(1, 8)  # long keys, up to MF_MAX_KEY
    return (bytes([tag]) + payload)[: lib.MF_MAX_KEY]


def rand_value(rng: random.Random) -> bytes:
    n = rng.choice([9, 9, 12, 15, 16, 17, 25, 64, 65, 200, 256, rng.randrange(9, 257)])
    return bytes([rng.choice(b"ifsbt")]) + rng.randbytes(n - 1)


def run_model(m: Map, rng: random.Random, steps: int, pool: int, churn: bool) -> int:
    """Random ops against a dict; returns the number of items ever inserted."""
    model: dict[bytes, bytes] = {}
    inserted = 0
    for step in range(steps):
        k = rand_key(rng, pool)
        x = rng.random()
        if churn:  # mostly fresh keys deleted soon after: tombstones pile up
            k = bytes([rng.choice(b"isb")]) + str(step // 2 + rng.randrange(3)).encode()
        if x < 0.35:
            v = rand_value(rng)
            r, old = m.put(k, v)
            assert (r, old) == ((1, model[k]) if k in model else (0, None)), step
            inserted += r == 0
            model[k] = v
        elif x < 0.45:
            v = rand_value(rng)
            r, cur = m.put_if_absent(k, v)
            assert (r, cur) == ((0, model[k]) if k in model else (1, None)), step
            if r:
                model[k] = v
                inserted += 1
        elif x < (0.9 if churn else 0.65):
            r, old = m.delete(k)
            assert (r, old) == ((1, model.pop(k)) if k in model else (0, None)), step
        else:
            assert m.get(k) == model.get(k), step
        assert m.check() is None, (step, m.check())
        assert m.len() == len(model), step
        if step % 97 == 0 or step == steps - 1:
            items = m.items()
            assert len(items) == len({k for k, _ in items}), "duplicate key in iteration"
            assert dict(items) == model, step
            for key, val in model.items():
                assert m.get(key) == val
    return inserted


@pytest.mark.parametrize("seed", [0, 1, 0xDEADBEEF, 2**64 - 1, 12345678901234])
def test_matches_dict_model_across_growths(new_map, seed):
    rng = random.Random(seed)
    m = new_map(seed, 0)  # starts as a single group: many doublings
    inserted = run_model(m, rng, 3000, pool=400, churn=False)
    assert inserted > 400


@pytest.mark.parametrize("seed", [3, 77])
def test_delete_churn_small_live_set(new_map, seed):
    """Mostly fresh keys deleted soon after; groups keep an EMPTY slot, so deletes
    mostly empty slots instead of leaving tombstones (see the sliding-window test
    for tombstone-driven same-size growth)."""
    rng = random.Random(seed)
    m = new_map(seed, 8)
    run_model(m, rng, 3000, pool=50, churn=True)


@pytest.mark.parametrize("window", [20, 24])
def test_sliding_window_churn_grows_same_size(new_map, window):
    """Insert key i, delete key i - window: a constant live set and a stream of
    tombstones. With these calls (hash seed 3, capacity 64) evacmap rebuilds its
    8-group table in place (same-size growth) 1 and 3 times, as instrumenting
    csrc/evacmap.c shows; the ABI cannot see table sizes, so this test checks the
    map against the model and its invariants at every step of that path."""
    m = new_map(3, 64)
    model: dict[bytes, bytes] = {}
    val = b"s12345678"
    for i in range(3000):
        k = b"i%d" % i
        assert m.put(k, val) == (0, None)
        model[k] = val
        if i >= window:
            old = b"i%d" % (i - window)
            assert m.delete(old) == (1, val)
            del model[old]
        assert m.check() is None, (i, m.check())
        assert m.len() == len(model)
        if i % 50 == 0:
            assert dict(m.items()) == model
            probe = b"i%d" % (i - window // 2)
            assert m.get(probe) == model.get(probe)


def test_shrinking_back_to_empty_and_refill(new_map):
    m = new_map(9, 0)
    keys = [b"i" + str(i).encode() for i in range(300)]
    for rnd in range(3):
        for k in keys:
            assert m.put(k, b"s" + k + bytes([rnd]) * 4) == (0, None)
        assert m.len() == len(keys)
        assert m.check() is None
        for k in keys:
            r, old = m.delete(k)
            assert (r, old) == (1, b"s" + k + bytes([rnd]) * 4)
        assert m.len() == 0 and m.items() == [] and m.check() is None


def test_int_str_bytes_are_three_keys(new_map):
    m = new_map(42, 0)
    keys = [b"i42", b"s42", b"b42"]
    for i, k in enumerate(keys):
        assert m.put(k, b"i" + bytes([i]) * 8) == (0, None)
    assert m.len() == 3
    for i, k in enumerate(keys):
        assert m.get(k) == b"i" + bytes([i]) * 8
    assert m.delete(b"s42") == (1, b"i" + bytes([1]) * 8)
    assert m.get(b"i42") == b"i" + bytes([0]) * 8
    assert m.get(b"s42") is None
    assert m.get(b"b42") == b"i" + bytes([2]) * 8
    assert m.get(b"42") is None  # no tag byte: yet another key
    assert m.check() is None


def test_value_lengths_round_trip(new_map):
    m = new_map(5, 0)
    for n in range(0, lib.MF_MAX_VALUE + 1):
        k = b"i" + n.to_bytes(2, "little")
        v = bytes((n * 7 + i) & 0xFF for i in range(n))
        assert m.put(k, v) == (0, None)
    for n in range(0, lib.MF_MAX_VALUE + 1):
        k = b"i" + n.to_bytes(2, "little")
        assert m.get(k) == bytes((n * 7 + i) & 0xFF for i in range(n))
    # inline <-> blob replacements of one key
    k = b"sx"
    m.put(k, b"s" * 9)
    for n in (200, 9, 15, 16, 256, 10):
        assert m.put_if_absent(k, b"z" * 9) == (0, m.get(k))
        prev = m.get(k)
        assert m.put(k, b"b" * n) == (1, prev)
    assert m.check() is None


def test_rejects_bad_lengths(new_map):
    m = new_map(1, 0)
    buf, n = ffi.new("uint8_t[]", 256), ffi.new("size_t *")
    assert T.put(m.m, b"", 0, b"i" * 9, 9, buf, n) < 0
    assert T.put(m.m, b"b" * 33, 33, b"i" * 9, 9, buf, n) < 0
    assert T.put(m.m, b"b1", 2, b"i" * 257, 257, buf, n) < 0
    assert T.put(m.m, b"b" * 32, 32, b"i" * 256, 256, buf, n) == 0
    assert m.len() == 1


def test_iterate_quiescent_exactly_once_with_current_values(new_map):
    rng = random.Random(7)
    m = new_map(7, 0)
    model: dict[bytes, bytes] = {}
    for i in range(600):
        k = rand_key(rng, 250)
        if rng.random() < 0.25 and k in model:
            m.delete(k)
            del model[k]
        else:
            v = rand_value(rng)
            m.put(k, v)
            model[k] = v
        if i % 23 == 0:  # quiescent, often mid-growth (evacuation is incremental)
            items = m.items()
            keys = [k for k, _ in items]
            assert sorted(keys) == sorted(model)
            assert len(keys) == len(set(keys))
            assert dict(items) == model


def test_iterate_stops_when_visit_says_so(new_map):
    m = new_map(3, 0)
    for i in range(50):
        m.put(b"i" + bytes([i]), b"i" * 9)
    seen = []

    @ffi.callback("int(void *, const uint8_t *, size_t, const uint8_t *, size_t)")
    def visit(ctx, k, kn, v, vn):  # type: ignore[no-untyped-def]
        seen.append(bytes(ffi.buffer(k, kn)))
        return 1 if len(seen) == 5 else 0

    assert T.iterate(m.m, visit, ffi.NULL) == 0
    assert len(seen) == 5


def test_behaviour_depends_only_on_calls(new_map):
    """Same calls, same hash seed: same iteration order (no addresses, no clock)."""
    orders = []
    for _ in range(3):
        rng = random.Random(11)
        m = new_map(99, 0)
        for _ in range(500):
            k = rand_key(rng, 200)
            if rng.random() < 0.3:
                m.delete(k)
            else:
                m.put(k, rand_value(rng))
        orders.append(m.items())
        m.close()
    assert orders[0] == orders[1] == orders[2]
    rng = random.Random(11)
    m = new_map(100, 0)  # another hash seed: another layout
    for _ in range(500):
        k = rand_key(rng, 200)
        if rng.random() < 0.3:
            m.delete(k)
        else:
            m.put(k, rand_value(rng))
    assert sorted(m.items()) == sorted(orders[0])
    assert m.items() != orders[0]


def test_many_maps_in_one_thread(new_map):
    """Per-thread epoch records must cope with maps created and destroyed in turn,
    several alive at once, and thread_exit."""
    live = [new_map(i, 0) for i in range(6)]
    for rnd in range(40):
        for i, m in enumerate(live):
            k = b"i" + bytes([rnd])
            assert m.put(k, b"s" + bytes([i]) * 9) == (0, None)
            assert m.get(k) == b"s" + bytes([i]) * 9
        if rnd % 7 == 0:
            T.thread_exit(live[rnd % 6].m)
        old = live.pop(0)
        assert old.len() == rnd + 1 or old.len() > 0
        old.close()
        fresh = new_map(100 + rnd, 0)
        for r in range(rnd + 1):
            fresh.put(b"i" + bytes([r]), b"s" + bytes([9]) * 9)
        live.append(fresh)
    for m in live:
        assert m.check() is None


def test_target_table():
    assert T.abi_version == lib.MF_ABI_VERSION
    assert ffi.string(T.name) == b"evacmap"
    for cap in ("MF_CAP_MULTI_WRITER", "MF_CAP_PUT_IF_ABSENT", "MF_CAP_ITERATE"):
        assert T.caps & getattr(lib, cap)
    for fn in ("iterate", "check", "thread_exit", "put_if_absent"):
        assert getattr(T, fn) != ffi.NULL


def test_variants_listed_and_selectable():
    names = variants()
    assert len(names) >= 12
    assert len(set(names)) == len(names)
    for n in names:
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)+", n), n
    assert set(names) >= SEQUENTIAL_BUGS
    for i in range(len(names) + 1):
        m = T.create(lib.mf_host_null(), 1, 0, i)
        assert m != ffi.NULL, i
        T.destroy(m)
    for bad in (len(names) + 1, len(names) + 2, 2**32 - 1):
        assert T.create(lib.mf_host_null(), 1, 0, bad) == ffi.NULL


@pytest.mark.parametrize("name", [n for n in variants() if n not in SEQUENTIAL_BUGS])
def test_concurrency_bugs_are_invisible_to_one_thread(new_map, name):
    """A race needs two threads: alone, every such variant behaves like the map."""
    idx = variants().index(name) + 1
    rng = random.Random(idx)
    m = new_map(idx, 0, variant=idx)
    run_model(m, rng, 800, pool=150, churn=False)


def test_delete_absent_decrements_drifts_count():
    idx = variants().index("delete-absent-decrements") + 1
    m = Map(5, 0, variant=idx)
    m.put(b"i1", b"i" * 9)
    m.put(b"i2", b"i" * 9)
    assert m.check() is None and m.len() == 2
    assert m.delete(b"i3") == (0, None)  # absent: must change nothing
    assert m.len() == 1
    msg = m.check()
    assert msg is not None
    assert msg.startswith("invariant failed:") and "(violates I1)" in msg
    m.close()


def test_iter_no_home_filter_duplicates_keys_during_growth():
    idx = variants().index("iter-no-home-filter") + 1
    dups = 0
    for seed in range(10):
        m = Map(seed, 0, variant=idx)
        for i in range(200):
            m.put(b"i" + str(i).encode(), b"i" * 9)
            keys = [k for k, _ in m.items()]
            dups += len(keys) - len(set(keys))
            assert set(keys) == {b"i" + str(j).encode() for j in range(i + 1)}
        assert m.check() is None  # the table is fine; only iteration is wrong
        m.close()
    assert dups > 0


# ---- seeded bugs under the controlled scheduler ---------------------------------

EXPECTED = {
    "reader-no-seq-validate": {"torn-value"},
    "value-update-skips-seq": {"torn-value"},
    "blob-overwrite-in-place": {"torn-value"},
    "free-blob-at-once": {"torn-value"},
    "writer-stale-desc-no-recheck": {"lost-write", "invariant", "len-mismatch"},
    "put-fast-path-skips-lock": {"lost-write"},
    # a second copy of the key: reads see one copy or the other
    "put-if-absent-no-recheck": {
        "lost-write",
        "duplicate-key",
        "stale-read",
        "len-mismatch",
        "invariant",
    },
    # false absent during migration: the oracle reports a read of "absent" after a
    # completed write as a lost write
    "evac-mark-before-copy": {"stale-read", "lost-write", "missing-key"},
    "reader-absent-no-evac-recheck": {"stale-read", "lost-write", "missing-key"},
    "geometry-split-publish": {"stale-read", "lost-write", "missing-key"},
    "delete-fast-path-skips-lock": {"resurrected-delete", "lost-write", "invariant"},
    "publish-ctrl-before-value": {"resurrected-delete", "stale-read"},
    "iter-no-snapshot": {"missing-key", "duplicate-key"},
    "iter-skips-evacuated": {"missing-key"},
    "iter-no-home-filter": {"duplicate-key"},
    "delete-absent-decrements": {"len-mismatch", "invariant"},
}
"""The oracle classes each seeded bug is meant to produce."""


def _campaign(name: str | None, budget: int) -> tuple[set[str], int]:
    """Controlled runs of generated schedules (PCT and random walk) until the first
    finding; returns the classes of that execution and the runs it took."""
    execute = pytest.importorskip("harness.execute")
    generate = pytest.importorskip("harness.generate")
    plan_mod = pytest.importorskip("harness.plan")
    runner_mod = pytest.importorskip("harness.runner")
    schedule = pytest.importorskip("harness.schedule")
    tgt = runner_mod.Target.load("evacmap")
    runner = runner_mod.Runner(tgt, 4)
    rng = random.Random(f"evacmap-{name}")
    runs = 0
    while runs < budget:
        cfg = generate.GenConfig(
            threads=rng.choice([2, 3]),
            ops_per_thread=rng.choice([6, 10, 16]),
            keys=rng.choice([3, 5, 8]),
            capacity=rng.choice([0, 8, 16]),
            colliding_keys=rng.choice([0.0, 0.5]),
        )
        s = generate.generate(rng, cfg, schedule.MapConfig(variant=name))
        plan = plan_mod.compile_schedule(s, tgt.variants)
        for strategy in ("pct", "random"):
            spec = execute.RunSpec(
                strategy=strategy, seed=rng.getrandbits(32), pct_depth=rng.choice([2, 3, 4])
            )
            out = execute.execute(runner, tgt, plan, spec)
            runs += 1
            if out.violations:
                return {v.cls for v in out.violations}, runs
    return set(), runs


def test_expected_classes_cover_every_variant():
    assert set(EXPECTED) == set(variants())


def test_correct_map_has_no_findings_under_the_controlled_scheduler():
    found, runs = _campaign(None, 600)
    assert found == set(), f"correct evacmap: {found} after {runs} runs"


@pytest.mark.parametrize("name", variants())
def test_seeded_bug_found_under_the_controlled_scheduler(name):
    found, runs = _campaign(name, 3000)
    assert found, f"{name}: nothing found in {runs} controlled runs"
    assert found & EXPECTED[name], f"{name}: found {found}, expected one of {EXPECTED[name]}"
