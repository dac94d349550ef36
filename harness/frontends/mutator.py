"""The fuzz input of the atheris front end, and its structure-aware mutator.

The input layout (a scheduler seed, then the schedule's byte form) is defined in
``harness.data.fuzz_input``; ``split_input`` / ``join_input`` are re-exported here.

``mutate`` decodes an input, applies one to three schedule-level edits (reseed the
scheduler, replace / insert / delete / copy / swap ops, add or drop a thread,
retype or replace a key, change capacity or hash seed, grow or shrink the prefill,
change a written value's type or size) and re-encodes with ``encode_bytes``, so
every mutant is a valid, canonical schedule. A share of the calls (and any mutant
that would exceed ``max_size``) goes to the byte-level fallback (``atheris.Mutate``:
libFuzzer's own mutations).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import replace

from harness.data.fuzz_input import SEED_BYTES, SEED_MASK, join_input, split_input
from harness.data.schedule import (
    KEYED_KINDS,
    OP_KINDS,
    MapConfig,
    Op,
    Schedule,
)
from harness.data.values import SIZE_RANGES, VALUE_TYPES, Key, MyInt, encode_key

__all__ = ["SEED_BYTES", "SEED_MASK", "join_input", "mutate", "split_input"]

MUTATOR_MAX_THREADS = 8
"""The mutator adds threads up to this many (the decoder allows 16)."""
MUTATOR_MAX_OPS = 48
"""... and ops per thread up to this many (the decoder allows 256)."""
MUTATOR_MAX_KEYS = 48
MUTATOR_MAX_PREFILL = 64
BYTE_FALLBACK = 0.2
"""Share of mutations left to the byte-level fallback."""

ByteMutator = Callable[[bytes, int], bytes]


def _rand_op(rng: random.Random, nkeys: int, kinds: tuple[str, ...]) -> Op:
    kind = rng.choice(kinds)
    if kind not in KEYED_KINDS:
        return Op(kind)
    key = rng.randrange(nkeys)
    if kind in ("get", "delete"):
        return Op(kind, key)
    vtype = rng.choice(VALUE_TYPES)
    lo, hi = SIZE_RANGES[vtype]
    return Op(kind, key, vtype, rng.randint(lo, min(hi, lo + 40)))


def _rand_key(rng: random.Random) -> Key:
    r = rng.random()
    if r < 0.5:
        return rng.randrange(-4, 1 << rng.choice((4, 8, 20, 40)))
    if r < 0.8:
        return "".join(rng.choice("abck0") for _ in range(rng.randint(0, 5)))
    return bytes(rng.randrange(256) for _ in range(rng.randint(0, 6)))


def _twin(rng: random.Random, k: Key) -> Key:
    """A key with the same payload under another type (int 42 / MyInt(42) / "42" /
    b"42")."""
    if isinstance(k, MyInt):
        text = str(k.value)
    else:
        text = (str(k) if isinstance(k, int | str) else k.hex())[:20]
    choices: list[Key] = [text, text.encode()]
    if text.lstrip("-").isdigit() and -(1 << 63) <= int(text) < (1 << 63):
        choices += [int(text), MyInt(int(text))]
    return rng.choice(choices)


def _valid_key(k: Key) -> bytes | None:
    try:
        return encode_key(k)
    except ValueError:
        return None


def _with_thread(s: Schedule, t: int, ops: tuple[Op, ...]) -> Schedule:
    threads = list(s.threads)
    threads[t] = ops
    return replace(s, threads=tuple(threads))


def _edit(s: Schedule, rng: random.Random, kinds: tuple[str, ...]) -> Schedule:
    """One random schedule-level edit (returns a valid schedule)."""
    n = len(s.keys)
    t = rng.randrange(len(s.threads))
    ops = list(s.threads[t])
    choice = rng.randrange(12)
    if choice == 0 and ops:  # replace an op
        ops[rng.randrange(len(ops))] = _rand_op(rng, n, kinds)
    elif choice == 1 and len(ops) < MUTATOR_MAX_OPS:  # insert an op
        ops.insert(rng.randint(0, len(ops)), _rand_op(rng, n, kinds))
    elif choice == 2 and ops:  # delete an op
        del ops[rng.randrange(len(ops))]
    elif choice == 3 and len(s.threads) > 1:  # copy an op of another thread here
        src = s.threads[rng.randrange(len(s.threads))]
        if src and len(ops) < MUTATOR_MAX_OPS:
            ops.insert(rng.randint(0, len(ops)), rng.choice(src))
    elif choice == 4 and len(ops) > 1:  # swap two ops
        i, j = rng.randrange(len(ops)), rng.randrange(len(ops))
        ops[i], ops[j] = ops[j], ops[i]
    elif choice == 5:  # add a thread (a shuffled copy of one, or fresh ops)
        if len(s.threads) < MUTATOR_MAX_THREADS:
            new = list(rng.choice(s.threads))
            rng.shuffle(new)
            if not new:
                new = [_rand_op(rng, n, kinds) for _ in range(rng.randint(1, 4))]
            return replace(s, threads=(*s.threads, tuple(new)))
    elif choice == 6 and len(s.threads) > 1:  # drop a thread
        return replace(s, threads=s.threads[:t] + s.threads[t + 1 :])
    elif choice == 7:  # retype or replace a key
        i = rng.randrange(n)
        new_key = _twin(rng, s.keys[rng.randrange(n)]) if rng.random() < 0.5 else _rand_key(rng)
        taken = {encode_key(k) for j, k in enumerate(s.keys) if j != i}
        enc = _valid_key(new_key)
        if enc is not None and enc not in taken:
            return replace(s, keys=(*s.keys[:i], new_key, *s.keys[i + 1 :]))
    elif choice == 8:  # a new key, used by a new op
        if n < MUTATOR_MAX_KEYS:
            k = _rand_key(rng)
            enc = _valid_key(k)
            if enc is not None and enc not in {encode_key(x) for x in s.keys}:
                s = replace(s, keys=(*s.keys, k))
                ops.insert(rng.randint(0, len(ops)), _rand_op(rng, n + 1, kinds))
                return _with_thread(s, t, tuple(ops))
    elif choice == 9:  # capacity or hash seed
        c = s.config
        if rng.random() < 0.5:
            c = replace(c, capacity=rng.choice((0, 1, 8, 9, 16, 32, 64)))
        else:
            c = replace(c, hash_seed=rng.getrandbits(64))
        return replace(s, config=c)
    elif choice == 10:  # prefill: one put more or fewer
        pre = list(s.prefill)
        if pre and rng.random() < 0.4:
            del pre[rng.randrange(len(pre))]
        elif len(pre) < MUTATOR_MAX_PREFILL:
            pre.insert(rng.randint(0, len(pre)), _rand_op(rng, n, ("put",)))
        return replace(s, prefill=tuple(pre))
    elif choice == 11 and ops:  # the value a write writes
        i = rng.randrange(len(ops))
        op = ops[i]
        if op.vtype is not None:
            vtype = rng.choice(VALUE_TYPES)
            lo, hi = SIZE_RANGES[vtype]
            ops[i] = Op(op.kind, op.key, vtype, rng.randint(lo, hi))
    return _with_thread(s, t, tuple(ops))


def mutate(
    data: bytes,
    max_size: int,
    seed: int,
    *,
    fallback: ByteMutator,
    config: MapConfig | None = None,
    kinds: tuple[str, ...] = OP_KINDS,
) -> bytes:
    """libFuzzer's custom mutator: a structure-aware edit of the input, or ``fallback``
    (``atheris.Mutate``) for a share of calls and for mutants over ``max_size``."""
    rng = random.Random(seed)
    if rng.random() < BYTE_FALLBACK:
        return fallback(data, max_size)
    sched_seed, s = split_input(data, config)
    for _ in range(rng.choice((1, 1, 2, 3))):
        if rng.random() < 0.2:
            sched_seed = rng.getrandbits(63)
        else:
            s = _edit(s, rng, kinds)
    out = join_input(sched_seed, s)
    if len(out) > max_size:
        return fallback(data, max_size)
    return out
