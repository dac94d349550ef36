"""`mapfuzz cc` and copies: a memcpy whose length gcc can bound (an adapter capping
a copy at MF_MAX_VALUE) is still split at schedule points, and those points are
named by the copy's own line, not the line its call returns to."""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import pytest

from harness.data.plan import compile_schedule
from harness.data.schedule import MapConfig
from harness.run.cc import build
from harness.run.runner import Runner
from harness.run.target import Target
from harness.search.generate import GenConfig, generate

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "cc_copy.c"

pytestmark = pytest.mark.skipif(
    any(shutil.which(tool) is None for tool in ("gcc", "objdump", "addr2line")),
    reason="mapfuzz cc and site names need gcc and binutils (apt-get install build-essential)",
)


def test_a_bounded_copy_is_split_at_points_named_by_its_line(tmp_path: Path) -> None:
    t = Target.load(str(build([FIXTURE], tmp_path / "cc_copy.so", ["-Wall", "-Wextra",
                                                                    "-Werror"])))
    lines = FIXTURE.read_text().splitlines()
    copy = next(i for i, text in enumerate(lines, 1) if "THE BOUNDED COPY" in text)
    cfg = GenConfig(threads=1, ops_per_thread=8, keys=1, prefill_fraction=0.0,
                    op_weights={"get": 1, "put": 1})
    plan = compile_schedule(generate(random.Random(0), cfg, MapConfig(target=t.spec)),
                            t.variants)
    with Runner(t) as r:
        e = r.run(plan, seed=0)
    assert e.status == "ok", e.message
    # every get or put that found a value ran the copy: one point per 8 bytes
    copied = [rec for rec in e.records if rec.thread == 0 and rec.out]
    assert copied
    expected = sum((len(rec.out) + 7) // 8 for rec in copied)
    at_copy = [ev for ev in e.events if ev.kind == 0 and ev.site == f"cc_copy.c:{copy} (c_get)"]
    assert len(at_copy) == expected, sorted({ev.site for ev in e.events})
    # and none is named after the line below the copy (where its call returns to)
    assert not [ev for ev in e.events if ev.site == f"cc_copy.c:{copy + 1} (c_get)"]
