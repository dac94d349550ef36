"""The `mapfuzz` CLI end to end, as a user runs it (a subprocess per command).

Exit codes: 0 no finding, 1 finding / reproduced, 2 usage or input error, 3 internal.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures.runner_support import ROOT, build_so

CRASHMAP_C = ROOT / "tests" / "fixtures" / "crashmap.c"
STANDARD = ROOT / "corpus" / "standard.json"


def mapfuzz(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "harness", *map(str, args)],
        capture_output=True, text=True, timeout=300, cwd=cwd,
    )


@pytest.fixture(scope="module")
def crashmap(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_so(CRASHMAP_C, tmp_path_factory.mktemp("so") / "crashmap.so")


def test_fuzz_finds_a_seeded_bug_then_repro_explain_show(tmp_path: Path) -> None:
    art = tmp_path / "art"
    p = mapfuzz("fuzz", "--variant", "reader-no-seq-validate", "--no-canary", "--execs", "3000",
                "--seed", "2", "--artifacts", art, "--json")
    assert p.returncode == 1, p.stderr
    out = json.loads(p.stdout)
    assert out["variant"] == "reader-no-seq-validate" and out["canary"] is None
    (finding,) = out["findings"]
    assert finding["class"] == "torn-value"
    repro_file = Path(finding["reproducer"])
    assert repro_file.parent == art and repro_file.exists()
    assert f"mapfuzz repro {repro_file}" in p.stderr

    r = mapfuzz("repro", repro_file, "--runs", "20", "--json")
    assert r.returncode == 1, r.stderr
    rj = json.loads(r.stdout)
    assert rj["runs"] == 20 and rj["reproduced"] == 20 and rj["verdict"] == "violation"
    recorded = json.loads(repro_file.read_text())["trace_hash"]
    assert rj["trace_hash"] == recorded

    e = mapfuzz("explain", repro_file)
    assert e.returncode == 1, e.stderr
    assert "schedule points" in e.stdout and "torn-value" in e.stdout and "*" in e.stdout

    s = mapfuzz("show", repro_file)
    assert s.returncode == 0 and json.loads(s.stdout)["format"] == "mapfuzz-reproducer/1"


def test_fuzz_correct_map_runs_the_canary_and_finds_nothing(tmp_path: Path) -> None:
    p = mapfuzz("fuzz", "--execs", "300", "--artifacts", tmp_path, "--json")
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    # --execs bounds the inputs; feedback skips some schedules (harness.search.engine)
    assert out["findings"] == [] and 0 < out["execs"] <= 300
    assert out["canary"]["variant"] == "reader-no-seq-validate"
    assert out["canary"]["found_after_execs"] >= 1
    assert list(tmp_path.iterdir()) == []


def test_fuzz_workload_shape_reaches_the_reproducer(tmp_path: Path) -> None:
    p = mapfuzz("fuzz", "--variant", "put-if-absent-no-recheck", "--no-canary",
                "--threads", "2", "--ops", "5", "--keys", "3", "--capacity", "2",
                "--execs", "2000", "--artifacts", tmp_path, "--json")
    assert p.returncode == 1, p.stderr
    (finding,) = json.loads(p.stdout)["findings"]
    s = json.loads(Path(finding["reproducer"]).read_text())["schedule"]
    assert len(s["threads"]) == 2 and all(len(t) == 5 for t in s["threads"])
    assert s["config"]["capacity"] == 2
    keyed = {op[1] for t in s["threads"] for op in t if op[0] not in ("iterate", "len")}
    assert len(keyed) <= 3


@pytest.mark.parametrize("args, message", [
    (["--engine", "hypothesis", "--threads", "2"], "--threads: for --engine random"),
    (["--keys", "4", "--ops", "9", "--engine", "atheris"], "--ops, --keys: for --engine random"),
    (["--noise", "0"], "--noise is for --mode stress"),
    (["--threads", "0"], "--threads"),
    (["--capacity", "5000"], "--capacity"),
])
def test_fuzz_workload_options_refuse_what_they_cannot_do(args: list[str], message: str) -> None:
    p = mapfuzz("fuzz", "--no-canary", "--execs", "1", *args)
    assert p.returncode == 2 and message in p.stderr, p.stderr


def test_fuzz_jobs_summary_lists_each_distinct_finding_with_hits_and_replay(
    tmp_path: Path,
) -> None:
    art = tmp_path / "art"
    p = mapfuzz("fuzz", "--variant", "reader-no-seq-validate", "--no-canary", "--execs", "800",
                "--keep-going", "--jobs", "2", "--artifacts", art, "--json")
    assert p.returncode == 1, p.stderr
    out = json.loads(p.stdout)
    assert out["jobs"] == 2 and 0 < out["execs"] <= 800
    findings = out["findings"]
    assert len(findings) >= 2 and sum(f["hits"] for f in findings) > len(findings)
    for f in findings:
        assert f["replay"] == f"mapfuzz repro {f['reproducer']}"
        assert f["mode"] == "controlled" and f["target"] == "evacmap" and f["explanation"]
    # without --json, the end-of-run summary names each one and how to replay it
    q = mapfuzz("fuzz", "--variant", "reader-no-seq-validate", "--no-canary", "--execs", "800",
                "--keep-going", "--jobs", "2", "--artifacts", art)
    summary = q.stderr[q.stderr.index("done: "):]
    assert f"{len(findings)} distinct findings" in summary
    for n, f in enumerate(findings, 1):
        assert f"{n}. {f['class']}" in summary and f"replay with: {f['replay']}" in summary


def test_segfaulting_target_is_a_crash_finding(crashmap: Path, tmp_path: Path) -> None:
    p = mapfuzz("fuzz", "--target", crashmap, "--no-canary", "--execs", "50",
                "--artifacts", tmp_path, "--json")
    assert p.returncode == 1, p.stderr
    (finding,) = json.loads(p.stdout)["findings"]
    assert finding["class"] == "crash"
    # the library lies outside the working directory: naming it confirms it
    r = mapfuzz("repro", finding["reproducer"], "--target", crashmap, "--json")
    assert r.returncode == 1, r.stderr
    assert json.loads(r.stdout)["violations"][0]["class"] == "crash"


def test_keep_going_survives_crashes(crashmap: Path, tmp_path: Path) -> None:
    # seed 1: its first schedule is small enough to get every scheduler seed, so the
    # six inputs are six executions (a big one gets fewer: harness.search.engine)
    p = mapfuzz("fuzz", "--target", crashmap, "--no-canary", "--execs", "6", "--keep-going",
                "--seed", "1", "--artifacts", tmp_path, "--json")
    assert p.returncode == 1, p.stderr
    out = json.loads(p.stdout)
    assert out["execs"] == 6 and [f["class"] for f in out["findings"]] == ["crash"]


def test_spinning_target_is_a_hang_finding(crashmap: Path, tmp_path: Path) -> None:
    # (crashmap also crashes on a delete of an absent key, which some schedules do
    # before their first get spins: keep going past that crash)
    p = mapfuzz("fuzz", "--target", crashmap, "--variant", "spin-forever", "--no-canary",
                "--execs", "20", "--keep-going", "--artifacts", tmp_path, "--json")
    assert p.returncode == 1, p.stderr
    assert "hang" in {f["class"] for f in json.loads(p.stdout)["findings"]}


def test_run_standard_schedule_is_ok() -> None:
    p = mapfuzz("run", STANDARD, "--seed", "3", "--json")
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert out["verdict"] == "ok" and out["violations"] == [] and out["runs"] == 1
    again = json.loads(mapfuzz("run", STANDARD, "--seed", "3", "--json").stdout)
    assert again["trace_hash"] == out["trace_hash"] is not None


def test_targets_lists_evacmap_and_a_library(crashmap: Path) -> None:
    p = mapfuzz("targets", crashmap, "--json")
    assert p.returncode == 0, p.stderr
    rows = json.loads(p.stdout)
    names = [r["name"] for r in rows]
    assert names[0] == "evacmap" and names[-1] == "crashmap"
    assert {"cds_lfht", "cuckoo"} <= set(names)  # listed even when not installed, with why
    assert len(rows[0]["variants"]) >= 12 and rows[0]["abi_version"] == 1
    assert rows[-1]["variants"] == ["spin-forever"] and rows[-1]["path"] == str(crashmap)


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["fuzz", "--variant", "no-such-bug", "--no-canary", "--execs", "1"], "no-such-bug"),
        (["fuzz", "--target", "/nonexistent/map.so", "--no-canary"], "/nonexistent/map.so"),
        (["fuzz", "--mode", "chaos"], "chaos"),
        (["repro", "/nonexistent.json"], "/nonexistent.json"),
        (["repro", str(STANDARD)], "not a reproducer"),
        (["targets", "/nonexistent/x.so"], "/nonexistent/x.so"),
    ],
)
def test_bad_input_exits_2_naming_the_value(args: list[str], needle: str) -> None:
    p = mapfuzz(*args)
    assert p.returncode == 2, (p.stdout, p.stderr)
    assert needle in p.stderr


def _write_history(path: Path, lines: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    return path


def test_check_history(tmp_path: Path) -> None:
    good = _write_history(tmp_path / "good.jsonl", [
        {"thread": 0, "call": 1, "return": 2, "op": "put", "key": "k", "value": "a",
         "result": {"status": "inserted"}},
        {"thread": 1, "call": 3, "return": 4, "op": "get", "key": "k",
         "result": {"status": "found", "value": "a"}},
    ])
    stale = _write_history(tmp_path / "stale.jsonl", [
        {"thread": 0, "call": 1, "return": 2, "op": "put", "key": "k", "value": "a",
         "result": {"status": "inserted"}},
        {"thread": 0, "call": 3, "return": 4, "op": "put", "key": "k", "value": "b",
         "result": {"status": "replaced", "old": "a"}},
        {"thread": 1, "call": 5, "return": 6, "op": "get", "key": "k",
         "result": {"status": "found", "value": "a"}},
    ])
    p = mapfuzz("check-history", good, stale, "--json")
    assert p.returncode == 1, p.stderr
    first, second = (json.loads(line) for line in p.stdout.splitlines())
    assert first["file"] == str(good) and first["verdict"] == "ok" and first["ops"] == 2
    assert second["verdict"] == "violation"
    (v,) = second["violations"]
    assert v["key"] == "k" and 3 in v["ops"]
    assert mapfuzz("check-history", good).returncode == 0


def test_check_history_malformed_exits_2_naming_the_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"thread": 0, "call": 1, "return": 2, "op": "get", "key": "k", '
                   '"result": {"status": "absent"}}\n{"thread": 0, "call": \n')
    p = mapfuzz("check-history", bad)
    assert p.returncode == 2
    assert "line 2" in p.stderr and "bad.jsonl" in p.stderr


def test_raw_crash_input_replays_as_the_engines_ran_it(tmp_path: Path) -> None:
    from harness.data.fuzz_input import join_input, split_input
    from harness.data.schedule import MapConfig
    from harness.frontends.check import check_schedule
    from harness.search.generate import standard_schedule

    variant = "delete-absent-decrements"
    data = join_input(12345, standard_schedule())
    crash = tmp_path / "crash-0123"
    crash.write_bytes(data)
    seed, schedule = split_input(data, MapConfig(variant=variant))
    expected = {v.cls for v in check_schedule(schedule, seed).violations}
    assert expected, "the chosen input must fail on this variant"
    p = mapfuzz("repro", crash, "--variant", variant, "--artifacts", tmp_path / "art", "--json")
    assert p.returncode == 1, p.stderr
    out = json.loads(p.stdout)
    assert out["reproduced"] == 1 and {v["class"] for v in out["violations"]} == expected
    r = mapfuzz("repro", out["reproducer"], "--json")
    assert r.returncode == 1 and json.loads(r.stdout)["reproduced"] == 1
    clean = mapfuzz("repro", crash, "--target", "evacmap", "--json")
    assert clean.returncode == 0 and json.loads(clean.stdout)["reproduced"] == 0


def test_repro_counts_only_the_findings_signature(tmp_path: Path) -> None:
    """A replay that fails with the same class on another key is not a reproduction."""
    src = ROOT / "corpus" / "regressions" / "reader-no-seq-validate--torn-value-097ccf6196ae.json"
    same = mapfuzz("repro", src, "--runs", "2", "--json")
    assert json.loads(same.stdout)["reproduced"] == 2, same.stderr
    d = json.loads(src.read_text())
    d["verdict"]["violations"][0]["key"] = "int:0"     # the finding claims the other key
    moved = tmp_path / "moved.json"
    moved.write_text(json.dumps(d))
    other = mapfuzz("repro", moved, "--runs", "2", "--json")
    out = json.loads(other.stdout)
    assert out["verdict"] == "violation" and out["reproduced"] == 0, other.stderr
