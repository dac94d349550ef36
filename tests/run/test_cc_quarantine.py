"""`mapfuzz cc`'s runtime holds back what the instrumented code frees (R7 in
csrc/instrument/mf_instrument.c): a freed block reads as the poison until the runner
flushes after destroy, so a map that reads freed memory replays exactly instead of
reading what the allocator's timing-dependent reuse left there."""

from __future__ import annotations

import ctypes
import shutil
from pathlib import Path

import pytest

from harness.run.cc import build

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "cc_free.c"
POISON = 0xDB

pytestmark = pytest.mark.skipif(shutil.which("gcc") is None,
                                reason="mapfuzz cc needs gcc (apt-get install build-essential)")


class Instrument(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("density", ctypes.c_uint32),
                ("attach", ctypes.c_void_p), ("set_sites", ctypes.c_void_p),
                ("set_density", ctypes.c_void_p), ("flush", ctypes.CFUNCTYPE(None))]


@pytest.fixture(scope="module")
def lib(tmp_path_factory: pytest.TempPathFactory) -> ctypes.CDLL:
    so = build([FIXTURE], tmp_path_factory.mktemp("free") / "cc_free.so", [])
    return ctypes.CDLL(str(so))


def test_a_freed_block_reads_as_the_poison(lib: ctypes.CDLL) -> None:
    assert [lib.after_free() for _ in range(100)] == [POISON] * 100


def test_realloc_keeps_the_contents_and_poisons_the_old_block(lib: ctypes.CDLL) -> None:
    assert lib.after_realloc() == 7 * 256 + POISON


def test_the_table_offers_flush_and_the_blocks_go_back(lib: ctypes.CDLL) -> None:
    lib.mf_instrument_v1.restype = ctypes.POINTER(Instrument)
    table = lib.mf_instrument_v1().contents
    assert table.version == 2
    for _ in range(1_000):
        lib.after_free()
    table.flush()   # gives back every held block (a double free would abort here)
    table.flush()   # and an empty quarantine is a no-op
    assert lib.after_free() == POISON   # held back again after a flush
