"""A built-in C target driven directly through cffi (no runner, one thread), and a
dict-model check shared by the per-map test files (tests/csrc/test_evacmap.py,
tests/csrc/test_syncmap.py)."""

from __future__ import annotations

import random
from typing import Any

from harness._mapfuzz_c import ffi, lib


class DirectMap:
    """Thin wrapper around one map of target table ``table``: every call returns what
    the C function returned, plus bytes."""

    def __init__(self, table: Any, seed: int = 0, cap: int = 0, variant: int = 0,
                 host: Any = None) -> None:
        self.t = table
        self.m = table.create(lib.mf_host_null() if host is None else host, seed, cap, variant)
        assert self.m != ffi.NULL
        self.buf = ffi.new("uint8_t[]", lib.MF_MAX_VALUE)
        self.n = ffi.new("size_t *")
        self.msg = ffi.new("char[]", 512)

    def close(self) -> None:
        self.t.destroy(self.m)
        self.m = ffi.NULL

    def _out(self, r: int) -> tuple[int, bytes | None]:
        assert r >= 0, f"target error {r}"
        return r, (bytes(ffi.buffer(self.buf, self.n[0])) if r else None)

    def get(self, k: bytes) -> bytes | None:
        r = self.t.get(self.m, k, len(k), self.buf, self.n)
        assert r in (0, 1)
        return bytes(ffi.buffer(self.buf, self.n[0])) if r else None

    def put(self, k: bytes, v: bytes) -> tuple[int, bytes | None]:
        return self._out(self.t.put(self.m, k, len(k), v, len(v), self.buf, self.n))

    def put_if_absent(self, k: bytes, v: bytes) -> tuple[int, bytes | None]:
        r = self.t.put_if_absent(self.m, k, len(k), v, len(v), self.buf, self.n)
        assert r in (0, 1)
        return r, (None if r else bytes(ffi.buffer(self.buf, self.n[0])))

    def delete(self, k: bytes) -> tuple[int, bytes | None]:
        return self._out(getattr(self.t, "del")(self.m, k, len(k), self.buf, self.n))

    def len(self) -> int:
        return int(self.t.len(self.m))

    def items(self) -> list[tuple[bytes, bytes]]:
        out: list[tuple[bytes, bytes]] = []

        @ffi.callback("int(void *, const uint8_t *, size_t, const uint8_t *, size_t)")
        def visit(ctx, k, kn, v, vn):  # type: ignore[no-untyped-def]
            out.append((bytes(ffi.buffer(k, kn)), bytes(ffi.buffer(v, vn))))
            return 0

        assert self.t.iterate(self.m, visit, ffi.NULL) == 0
        return out

    def check(self) -> str | None:
        if self.t.check(self.m, self.msg, 512) == 0:
            return None
        return ffi.string(self.msg).decode()


def rand_key(rng: random.Random, pool: int) -> bytes:
    tag = rng.choice(b"isb")
    payload = str(rng.randrange(pool)).encode()
    if rng.random() < 0.1:
        payload = payload * rng.randrange(1, 8)  # long keys, up to MF_MAX_KEY
    return (bytes([tag]) + payload)[: lib.MF_MAX_KEY]


def rand_value(rng: random.Random) -> bytes:
    n = rng.choice([9, 9, 12, 15, 16, 17, 25, 64, 65, 200, 256, rng.randrange(9, 257)])
    return bytes([rng.choice(b"ifsbt")]) + rng.randbytes(n - 1)


def run_model(m: DirectMap, rng: random.Random, steps: int, pool: int, churn: bool) -> int:
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


