"""explain: every witnessing operation marked, the prefill shown, value names explained,
80 columns with keys whole, long interleavings folded around the witnesses."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

from rich.console import Console

from harness.run.execute import Outcome
from harness.run.inputs import load_input
from harness.run.reproducer import Reproducer
from harness.tools.candidates import LocalRuns
from harness.tools.explain import describe, render
from tests.cli.test_cli import mapfuzz
from tests.fixtures.findings import seeded_finding

REGRESSIONS = Path(__file__).resolve().parents[2] / "corpus" / "regressions"
LOST_WRITE = next(REGRESSIONS.glob("delete-fast-path-skips-lock--*.json"))


def replayed(r: Reproducer, local: LocalRuns) -> Outcome:
    (a,) = local.attempts(r.schedule, [r.replay_spec()])
    assert a.outcome is not None and a.violations
    return a.outcome


def text_of(r: Reproducer, outcome: Outcome, width: int = 80) -> str:
    console = Console(width=width, record=True, highlight=False, file=io.StringIO())
    console.print(render(r, outcome, width=width))
    return console.export_text()


def test_every_witnessing_operation_is_marked(local: LocalRuns) -> None:
    r = load_input(LOST_WRITE).reproducer
    assert r is not None
    outcome = replayed(r, local)
    text = text_of(r, outcome)
    (v,) = [v for v in outcome.violations if v.cls == "lost-write"]
    threaded = [i for i in v.ops if outcome.history.ops[i].thread >= 0]
    assert len(threaded) == 2  # the put and the delete, not only one of them
    starred = [line for line in text.splitlines() if re.match(r"^│\s*\*\d+ ", line)]
    for i in threaded:
        call = describe(outcome.history, outcome.history.ops[i]).split(" -> ")[0]
        kind, _, args = call.partition("(")
        assert any(kind in line and args.split(",")[0].rstrip(")") in line for line in starred), \
            (call, starred)


def test_prefill_and_value_names_are_explained(local: LocalRuns) -> None:
    r = load_input(LOST_WRITE).reproducer
    assert r is not None
    text = text_of(r, replayed(r, local))
    assert "prefill (1 sequential put before the threads start): put(int:0, pre#1)" in text
    assert "pre#N is the Nth value the prefill wrote" in text
    assert "tK#N the Nth value thread K" in text.replace("\n", " ")


def test_long_interleaving_fits_80_columns_folded_with_keys_whole(local: LocalRuns) -> None:
    item, first = seeded_finding("reader-no-seq-validate")
    r = Reproducer("evacmap", None, 1, item.spec, item.schedule, first.execution.trace,
                   first.execution.trace_hash, first.violations)
    outcome = replayed(r, local)
    events = len(outcome.execution.events)
    assert events > 100
    text = text_of(r, outcome)
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert "folded" in text
    rows = [line for line in lines if re.match(r"^│\s*\*?\d+ ", line)]
    assert len(rows) < events
    keys = {outcome.history.keys[op.key] for op in outcome.history.ops if op.key is not None}
    for line in rows:
        if re.search(r" -> (get|put|put_if_absent|delete) ", line):
            assert any(k in line for k in keys), line  # a call's key is never cut


def test_explain_json(tmp_path: Path) -> None:
    p = mapfuzz("explain", LOST_WRITE, "--json")
    assert p.returncode == 1, p.stderr
    out = json.loads(p.stdout)
    assert [w["thread"] for w in out["witnesses"]] == ["main", "t0", "t1"]
    assert out["prefill"] == ["put(int:0, pre#1) -> inserted"]
    assert any(e.get("witness") for e in out["events"])
    s = mapfuzz("show", LOST_WRITE, "--json")
    assert s.returncode == 0 and json.loads(s.stdout)["kind"] == "reproducer"
