"""The atheris input layout and the structure-aware mutator (no atheris needed)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from harness.data.schedule import MapConfig, Schedule
from harness.frontends.mutator import (
    SEED_MASK,
    join_input,
    mutate,
    split_input,
)
from harness.strategies import schedules

CFG = MapConfig("evacmap", "iter-no-snapshot")


def no_fallback(data: bytes, max_size: int) -> bytes:
    return b"FALLBACK"


@given(st.binary(max_size=400))
def test_split_is_total(data: bytes) -> None:
    seed, s = split_input(data, CFG)
    s.validate()
    assert 0 <= seed <= SEED_MASK
    assert s.config.variant == "iter-no-snapshot"


def test_seed_is_the_first_eight_bytes() -> None:
    seed, _ = split_input((12345).to_bytes(8, "little") + b"\x01\x02", CFG)
    assert seed == 12345
    assert split_input(b"\x07", CFG)[0] == 7  # short inputs read as zero-padded
    assert split_input(b"\xff" * 8, CFG)[0] == SEED_MASK  # top bit dropped


@given(schedules(config=CFG), st.integers(0, SEED_MASK))
def test_join_split_round_trip(s: Schedule, seed: int) -> None:
    assert split_input(join_input(seed, s), CFG) == (seed, s)


@settings(max_examples=300)
@given(st.binary(max_size=300), st.integers(0, 2**32 - 1))
def test_mutants_are_canonical_valid_inputs(data: bytes, seed: int) -> None:
    out = mutate(data, 4096, seed, fallback=no_fallback, config=CFG)
    if out == b"FALLBACK":
        return
    assert len(out) <= 4096
    sseed, s = split_input(out, CFG)
    s.validate()
    assert join_input(sseed, s) == out  # canonical: re-encoding changes nothing


def test_mutator_is_deterministic_and_uses_the_fallback() -> None:
    data = join_input(5, split_input(bytes(range(200)), CFG)[1])
    outs = [mutate(data, 4096, i, fallback=no_fallback, config=CFG) for i in range(200)]
    assert outs == [mutate(data, 4096, i, fallback=no_fallback, config=CFG) for i in range(200)]
    assert b"FALLBACK" in outs  # a share goes to libFuzzer's byte mutations
    assert len({o for o in outs if o != b"FALLBACK"}) > 50
    # too small a max_size: the fallback decides
    assert mutate(data, 4, 1, fallback=no_fallback, config=CFG) == b"FALLBACK"


def test_mutator_keeps_to_allowed_kinds() -> None:
    data = bytes(64)  # one thread, no ops: every op below comes from the mutator
    assert split_input(data, CFG)[1].nops == 0
    for i in range(300):
        data = mutate(data, 4096, i, fallback=lambda d, m: d, config=CFG,
                      kinds=("get", "put", "delete", "len"))
    _, s = split_input(data, CFG)
    assert s.nops > 0
    assert {op.kind for t in s.threads for op in t} <= {"get", "put", "delete", "len"}
