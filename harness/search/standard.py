"""The standard schedule (corpus/standard.json): 3 threads x 16 ops over 8 mixed-type
contended keys, prefilled so that the threads' first inserts start a growth."""

from __future__ import annotations

from harness.data.schedule import MapConfig, Op, Schedule
from harness.data.values import Key

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
