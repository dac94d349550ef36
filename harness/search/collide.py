"""Keys whose hashes collide in evacmap: the generator's ``collide`` hook.

Colliding keys share a home group, so they fill it and spill along its probe
run: the case where "every key whose home group is g" sits in several groups,
which is where evacuation and iteration bugs live. Collisions are computed with
evacmap's own hash (``mf_evacmap_hash``) under the schedule's hash seed, on the
low bits that pick the home group in tables of up to ``GROUPS`` groups, so the
keys keep colliding through the first few growths.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from harness._mapfuzz_c import lib
from harness.data.schedule import MapConfig
from harness.data.values import Key

GROUPS = 64
"""Keys collide in every table of up to this many groups (home group = (h >> 7) % groups)."""
TRIES = 20_000


def evacmap_colliding_keys(rng: random.Random, config: MapConfig,
                           n_wanted: int) -> Sequence[Key]:
    """``n_wanted`` distinct int or str keys with the same home group under ``config.hash_seed``
    (fewer if the search gives up after TRIES draws)."""
    seed = config.hash_seed & 0xFFFFFFFFFFFFFFFF
    want: int | None = None
    keys: list[Key] = []
    seen: set[bytes] = set()
    # the hot loop (about GROUPS draws per key): encodings written out (encode_key's
    # format for small ints and ASCII strs), names bound locally
    hash_, rand, randrange = lib.mf_evacmap_hash, rng.random, rng.randrange
    for _ in range(TRIES):
        key: Key
        if rand() < 0.5:
            n = randrange(1 << 20)
            key, raw = n, b"i" + n.to_bytes(8, "little", signed=True)
        else:
            key = f"c{randrange(1 << 20)}"
            raw = b"s" + key.encode()
        home = (hash_(seed, raw, len(raw)) >> 7) % GROUPS
        if want is None:
            want = home
        if home == want and raw not in seen:
            seen.add(raw)
            keys.append(key)
            if len(keys) == n_wanted:
                break
    return keys
