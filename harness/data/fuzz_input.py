"""Raw fuzz inputs: the byte form the fuzz engines mutate and crash files hold.

Layout::

    bytes 0..7   the controlled-mode scheduler seed: u64 little endian, top bit
                 dropped (63-bit, like the random engine); short inputs read as 0
    bytes 8..    the schedule in the byte form of ``harness.data.schedule.decode_bytes``
                 (total: any bytes are a valid schedule; the target and variant come
                 from the command line, not from the bytes)

So a crash file holds everything needed to rerun it: the same schedule and the
same seed, hence (controlled mode is deterministic) the same interleaving and
verdict. ``split_input`` is total; ``join_input`` inverts it for valid schedules.
"""

from __future__ import annotations

from harness.data.schedule import MapConfig, Schedule, decode_bytes, encode_bytes

SEED_BYTES = 8
SEED_MASK = (1 << 63) - 1


def split_input(data: bytes, config: MapConfig | None = None) -> tuple[int, Schedule]:
    """(scheduler seed, schedule) of a fuzz input."""
    head = bytes(data[:SEED_BYTES]).ljust(SEED_BYTES, b"\0")
    seed = int.from_bytes(head, "little") & SEED_MASK
    return seed, decode_bytes(bytes(data[SEED_BYTES:]), config)


def join_input(seed: int, schedule: Schedule) -> bytes:
    """The fuzz input for a scheduler seed and a (valid) schedule."""
    return (seed & SEED_MASK).to_bytes(SEED_BYTES, "little") + encode_bytes(schedule)
