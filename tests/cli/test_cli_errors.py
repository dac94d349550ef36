"""Errors that never lose a finding, and wrong files that are errors, not silent runs.

Each test names what a user did: an output path that cannot be written, a write that
fails after the finding, an artifact already on disk with other content, a file that
is no mapfuzz input. Output paths are spoiled by putting a regular file where a
directory must be (permissions do not stop root, which CI runs as).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from harness.run import reproducer
from harness.run.execute import RunSpec
from harness.run.reproducer import Reproducer
from harness.search.campaign import CampaignConfig, run_campaign
from tests.cli.test_cli import CRASHMAP_C, STANDARD, mapfuzz
from tests.fixtures.findings import seeded_finding
from tests.fixtures.runner_support import build_so

SEEDED = ["--variant", "reader-no-seq-validate", "--no-canary", "--execs", "3000", "--seed", "2"]


def last_line(text: str) -> str:
    return text.strip().splitlines()[-1]


@pytest.fixture
def a_file(tmp_path: Path) -> Path:
    f = tmp_path / "notes.txt"
    f.write_text("a file where a directory should be\n")
    return f


@pytest.mark.parametrize("args", [["fuzz", *SEEDED], ["run", str(STANDARD)]])
def test_unwritable_artifacts_is_one_line_before_any_work(
    args: list[str], a_file: Path
) -> None:
    p = mapfuzz(*args, "--artifacts", a_file / "art")
    assert p.returncode == 2, p.stderr
    assert "Traceback" not in p.stderr and "finding" not in p.stderr
    assert last_line(p.stderr).startswith("error: --artifacts ")
    assert f"{a_file} is a file, not a directory" in p.stderr


def test_tmin_output_is_checked_before_minimising(
    a_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from harness.cli import cli
    from harness.cli import tools as tools_cli

    def minimise(*args: object, **kwargs: object) -> None:
        raise AssertionError("tmin minimised although -o could not take the result")

    monkeypatch.setattr(tools_cli, "minimise", minimise)
    regression = next((Path(__file__).parents[2] / "corpus" / "regressions").glob("*.json"))
    p = CliRunner().invoke(cli, ["tmin", str(regression), "-o", str(a_file / "small.json")])
    assert p.exit_code == 2 and f"{a_file} is a file, not a directory" in p.stderr


def test_write_failing_mid_campaign_falls_back_and_says_where(
    a_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fallback = tmp_path / "fallback"
    monkeypatch.setenv(reproducer.FALLBACK_ENV, str(fallback))
    cfg = CampaignConfig(variant="reader-no-seq-validate", seed=2, canary=False,
                         max_execs=3000, artifacts=a_file / "art")
    result = run_campaign(cfg)
    (report,) = result.findings
    assert report.cls == "torn-value"
    assert report.reproducer is not None and report.reproducer.parent == fallback
    assert report.write_problem and "Not a directory" in report.write_problem
    assert reproducer.load(report.reproducer).main_class == "torn-value"


def test_fuzz_onto_an_existing_artifact_prints_the_finding_then_the_error(
    tmp_path: Path,
) -> None:
    art = tmp_path / "art"
    first = mapfuzz("fuzz", *SEEDED, "--artifacts", art, "--json")
    assert first.returncode == 1, first.stderr
    path = Path(json.loads(first.stdout)["findings"][0]["reproducer"])
    path.write_text("edited by hand\n")  # the same name, other content
    env_fallback = tmp_path / "fallback"
    p = _with_env(reproducer.FALLBACK_ENV, env_fallback, "fuzz", *SEEDED, "--artifacts", art)
    assert p.returncode == 2, p.stderr
    assert "finding: torn-value" in p.stderr and "torn bytes" in p.stderr
    assert f"written to {env_fallback}" in p.stderr
    assert last_line(p.stderr).startswith("error: cannot write to ")
    assert path.read_text() == "edited by hand\n"
    (saved,) = env_fallback.iterdir()
    assert reproducer.load(saved).main_class == "torn-value"


def _with_env(name: str, value: Path, *args: str | Path) -> object:
    import os
    import subprocess
    import sys

    return subprocess.run(
        [sys.executable, "-m", "harness", *map(str, args)], capture_output=True, text=True,
        timeout=300, env={**os.environ, name: str(value)},
    )


def test_to_controlled_onto_an_existing_artifact_prints_the_witness_then_the_error(
    tmp_path: Path,
) -> None:
    item, outcome = seeded_finding("reader-no-seq-validate")
    stress = Reproducer("evacmap", None, 1, RunSpec(mode="stress", seed=9, noise=0.05),
                        item.schedule, (), None, outcome.violations, {"engine": "random"})
    src = reproducer.save(stress, tmp_path / "in")
    art = tmp_path / "art"
    first = mapfuzz("repro", "--to-controlled", src, "--artifacts", art, "--json")
    assert first.returncode == 1, first.stderr
    witness = Path(json.loads(first.stdout)["reproducer"])
    witness.write_text("edited by hand\n")
    fallback = tmp_path / "fallback"
    p = _with_env(reproducer.FALLBACK_ENV, fallback, "repro", "--to-controlled", src,
                  "--artifacts", art)
    assert p.returncode == 2, p.stderr
    assert "Traceback" not in p.stderr
    assert "controlled witness of torn-value" in p.stderr and "torn bytes" in p.stderr
    assert f"written to {fallback}" in p.stderr
    assert last_line(p.stderr).startswith("error: cannot write to ")
    assert witness.read_text() == "edited by hand\n"


@pytest.mark.parametrize("name, content", [
    ("README.md", "# notes\n\nnot a schedule\n"),
    ("empty.json", ""),
    ("list.json", "[1, 2]\n"),
    ("schedule.txt", '{"format": "mapfuzz-schedule/1"'),
])
@pytest.mark.parametrize("command", ["run", "repro", "show"])
def test_wrong_files_are_exit_2_naming_the_file(
    command: str, name: str, content: str, tmp_path: Path
) -> None:
    f = tmp_path / name
    f.write_text(content)
    extra = [] if command == "show" else ["--artifacts", tmp_path / "art"]
    p = mapfuzz(command, f, *extra)
    assert p.returncode == 2, (p.returncode, p.stderr)
    line = last_line(p.stderr)
    assert line.startswith("error: ") and name in line and "expected" in line
    assert len(p.stderr.strip().splitlines()) == 1


def test_raw_flag_reads_any_file_as_a_raw_input(tmp_path: Path) -> None:
    f = tmp_path / "README.md"
    f.write_text("# notes\n")
    p = mapfuzz("show", f, "--raw")
    assert p.returncode == 0 and "raw fuzz input" in p.stderr
    assert json.loads(p.stdout)["format"] == "mapfuzz-schedule/1"


def test_cmin_skips_files_that_are_no_input(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "README.md").write_text("# my corpus\n")
    (corpus / "standard.json").write_text(STANDARD.read_text())
    out = tmp_path / "min"
    p = mapfuzz("cmin", corpus, "-o", out)
    assert p.returncode == 0, p.stderr
    assert "skipped" in p.stderr and "README.md: not a fuzz input" in p.stderr
    assert [f.suffix for f in out.iterdir()] == [".json"]


def test_cmin_unknown_variant_is_exit_2(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "standard.json").write_text(STANDARD.read_text())
    p = mapfuzz("cmin", corpus, "-o", tmp_path / "min", "--variant", "nope")
    assert p.returncode == 2 and "no variant 'nope'" in p.stderr
    assert not (tmp_path / "min").exists()


def test_check_history_of_an_empty_file_is_exit_2(tmp_path: Path) -> None:
    f = tmp_path / "empty.jsonl"
    f.write_text("\n")
    p = mapfuzz("check-history", f)
    assert p.returncode == 2 and "no operations" in p.stderr and "empty.jsonl" in p.stderr


def test_repro_raw_input_without_a_target_is_exit_2(tmp_path: Path) -> None:
    crash = tmp_path / ("crash-" + "ab" * 20)
    crash.write_bytes(bytes(range(64)))
    p = mapfuzz("repro", crash)
    assert p.returncode == 2
    assert "--variant" in p.stderr and "--target evacmap" in p.stderr
    ok = mapfuzz("repro", crash, "--target", "evacmap", "--artifacts", tmp_path / "art")
    assert ok.returncode == 0, ok.stderr


def test_fuzz_time_zero_is_a_usage_error() -> None:
    p = mapfuzz("fuzz", "--time", "0", "--no-canary")
    assert p.returncode == 2 and "--time" in p.stderr


def test_bench_writes_only_where_o_says(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from harness.bench import suite
    from harness.cli import cli

    monkeypatch.setattr(suite, "run_bench", lambda quick, log, only=(): {"quick": quick})
    monkeypatch.setattr(suite, "render_markdown", lambda results: "# Benchmarks\n")
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    p = runner.invoke(cli, ["bench", "--quick"])
    assert p.exit_code == 0 and p.stdout == "# Benchmarks\n"
    assert list(tmp_path.iterdir()) == []
    mine = tmp_path / "BENCHMARKS.md"
    mine.write_text("committed figures\n")
    p = runner.invoke(cli, ["bench", "--quick", "-o", str(mine)])
    assert p.exit_code == 2 and "--force" in p.stderr
    assert mine.read_text() == "committed figures\n"
    p = runner.invoke(cli, ["bench", "--quick", "-o", str(mine), "--force"])
    assert p.exit_code == 0 and mine.read_text() == "# Benchmarks\n"


def test_a_library_a_file_names_loads_only_when_confirmed(tmp_path: Path) -> None:
    """A reproducer or schedule from elsewhere names a .so outside the project and the
    cache: exit 2 naming it and how to allow it; --target (or running from the directory
    that holds it) allows it; show never loads it."""
    (tmp_path / "lib").mkdir()
    lib = build_so(CRASHMAP_C, tmp_path / "lib" / "crashmap.so")
    art = tmp_path / "art"
    p = mapfuzz("fuzz", "--target", lib, "--no-canary", "--execs", "20", "--artifacts", art,
                "--json")
    assert p.returncode == 1, p.stderr
    found = json.loads(p.stdout)["findings"][0]["reproducer"]
    schedule = json.loads(Path(found).read_text())["schedule"]
    assert schedule["config"]["target"] == str(lib)
    sched = tmp_path / "schedule.json"
    sched.write_text(json.dumps(schedule))
    for args in (["repro", found], ["explain", found], ["run", sched]):
        refused = mapfuzz(*args)
        assert refused.returncode == 2, (args, refused.stderr)
        line = last_line(refused.stderr)
        assert f"names the target library {lib}" in line and f"--target {lib}" in line
    assert mapfuzz("show", found).returncode == 0
    ok = mapfuzz("repro", found, "--target", lib, "--json")
    assert ok.returncode == 1 and json.loads(ok.stdout)["reproduced"] == 1
    inside = mapfuzz("repro", found, "--json", cwd=lib.parent)
    assert inside.returncode == 1, inside.stderr
    assert mapfuzz("run", sched, "--target", lib).returncode in (0, 1)


def test_ctrl_c_prints_the_statistics_so_far(tmp_path: Path) -> None:
    import os
    import re
    import signal
    import subprocess
    import sys

    proc = subprocess.Popen(
        [sys.executable, "-m", "harness", "fuzz", "--no-canary", "--time", "300",
         "--artifacts", str(tmp_path)],
        stderr=subprocess.PIPE, text=True,
    )
    assert proc.stderr is not None
    try:
        for line in proc.stderr:  # the first progress line: executions have been counted
            if re.search(r"\b[1-9][0-9,]* execs\b", line):
                break
        os.kill(proc.pid, signal.SIGINT)
        rest = proc.stderr.read()
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, rest
    assert re.search(r"^interrupted: [1-9][0-9,]* executions in [0-9.]+ s .*0 distinct findings",
                     rest, re.M), rest


def test_output_polish_words_not_dicts() -> None:
    from harness.bench.suite import rates_text
    from harness.tools.tmin import size_text

    assert rates_text({"noise_0.0": 12345.6, "noise_0.05": 999.4}) == \
        "noise 0.0: 12,346/s, noise 0.05: 999/s"
    assert size_text({"threads": 1, "ops": 3, "preemptions": 0}) == \
        "1 thread, 3 ops, 0 preemptions"


def test_stress_progress_shows_no_unmeasured_features(tmp_path: Path) -> None:
    p = mapfuzz("fuzz", "--mode", "stress", "--no-canary", "--execs", "30",
                "--artifacts", tmp_path)
    assert p.returncode == 0, p.stderr
    assert "execs" in p.stderr and "features" not in p.stderr
    assert "finding(s)" not in p.stderr and "0 distinct findings" in p.stderr


def test_errors_name_the_file_once(tmp_path: Path) -> None:
    bad = tmp_path / "broken-reproducer.json"
    bad.write_text('{"format": "mapfuzz-reproducer/1"}\n')
    p = mapfuzz("repro", bad)
    assert p.returncode == 2
    assert p.stderr.count("broken-reproducer.json") == 1, p.stderr
    assert "missing field 'target'" in p.stderr
