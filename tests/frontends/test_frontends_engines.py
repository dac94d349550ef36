"""`mapfuzz fuzz --engine atheris|hypothesis`, the libFuzzer status parser and the
atheris harness's command line. Tests that run libFuzzer need atheris (the `fuzz`
extra) and are skipped without it; the rest always run."""

from __future__ import annotations

import importlib.util
import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from harness.cli import fuzz as fuzz_cli
from harness.cli.common import cli
from harness.frontends.atheris_driver import (
    INSTALL_HINT,
    command,
    parse_finding,
    parse_status,
)
from harness.frontends.atheris_target import (
    DEFAULT_TIMEOUT,
    libfuzzer_argv,
    parse_options,
)
from harness.search.campaign import CampaignConfig
from tests.fixtures.runner_support import ROOT

HAVE_ATHERIS = importlib.util.find_spec("atheris") is not None
needs_atheris = pytest.mark.skipif(
    not HAVE_ATHERIS, reason="atheris is not installed (pip install -e '.[fuzz]')"
)


def mapfuzz(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "harness", *map(str, args)],
        capture_output=True, text=True, timeout=300, cwd=cwd,
    )


# ---- parsing ----------------------------------------------------------------------


def test_parse_status_lines() -> None:
    st = parse_status("#4096\tpulse  cov: 74 ft: 107 corp: 34/737b lim: 25 exec/s: 1365 rss: 62Mb")
    assert st is not None
    assert (st.execs, st.event, st.cov, st.ft, st.corpus) == (4096, "pulse", 74, 107, 34)
    assert st.corpus_bytes == 737 and st.execs_per_s == 1365
    st = parse_status("#2999\tNEW    cov: 2387 ft: 4964 corp: 786/55Kb lim: 4096 exec/s: 2999 "
                      "rss: 63Mb L: 47/507 MS: 3 Custom-Custom-Custom-")
    assert st is not None and st.event == "NEW" and st.corpus_bytes == 55 * 1024
    st = parse_status("#2\tINITED ft: 1 corp: 1/1b exec/s: 0 rss: 41Mb")  # no PC table: no cov
    assert st is not None and st.cov == 0 and st.ft == 1
    assert parse_status("INFO: Seed: 3571465968") is None
    assert parse_status("#12 something else") is None
    # fork mode (--jobs): "#N:" and no event, exec/s without its colon
    st = parse_status("#2462: cov: 1751 ft: 2980 corp: 326 exec/s 401 oom/timeout/crash: 0/0/0 "
                      "time: 9s job: 2 dft_time: 0")
    assert st is not None and (st.execs, st.event, st.cov, st.ft, st.corpus) == (
        2462, "fork", 1751, 2980, 326)
    assert st.execs_per_s == 401


def test_parse_finding_line() -> None:
    line = 'MAPFUZZ_FINDING {"class": "torn-value", "key": "int:1", "execs": 3}\n'
    assert parse_finding(line) == {"class": "torn-value", "key": "int:1", "execs": 3}
    assert parse_finding("MAPFUZZ_FINDING {broken") is None
    assert parse_finding("replay with: mapfuzz repro x.json") is None


# ---- the harness's command line ---------------------------------------------------


def test_options_parsing() -> None:
    o = parse_options(["x", "--variant=torn", "--artifacts=/a", "-runs=5", "corpus",
                       "--no-interleaving-counters", "--pct-depth=5"])
    assert o.variant == "torn" and o.artifacts == Path("/a") and not o.counters
    assert o.pct_depth == 5 and o.target == "evacmap"
    assert parse_options(["x", "--variant=correct"]).variant is None
    with pytest.raises(ValueError, match="--bogus"):
        parse_options(["x", "--bogus"])


def test_argv0_is_reexec_safe_and_timeout_always_set() -> None:
    argv = libfuzzer_argv(["fuzz/evacmap.py", "-merge=1", "out", "in"], "fuzz/evacmap.py")
    assert shlex.split(argv[0]) == [sys.executable, os.path.abspath("fuzz/evacmap.py")]
    assert argv[1:4] == ["-merge=1", "out", "in"]
    assert f"-timeout={DEFAULT_TIMEOUT}" in argv
    kept = libfuzzer_argv(["x", "-timeout=3"], None)
    assert [a for a in kept if a.startswith("-timeout")] == ["-timeout=3"]
    assert shlex.split(kept[0])[1:] == ["-m", "harness.frontends.atheris_target"]


def test_driver_command_budget_and_passthrough(tmp_path: Path) -> None:
    cfg = CampaignConfig(variant="torn", seconds=2.5, max_execs=100, seed=4, artifacts=tmp_path)
    cmd = command(cfg, tmp_path / "c", [tmp_path / "s"], ["-max_len=64", "-timeout=9"])
    assert "--variant=torn" in cmd and str(tmp_path / "c") in cmd
    assert "-max_total_time=3" in cmd and "-runs=100" in cmd and "-seed=5" in cmd
    assert [a for a in cmd if a.startswith("-timeout")] == ["-timeout=9"]  # user's flag wins
    assert cmd[-1] == "-timeout=9" and "-max_len=64" in cmd
    assert not any(a.startswith("-fork") for a in cmd)  # one job: libFuzzer's own loop


def test_driver_command_jobs_is_libfuzzer_fork_mode(tmp_path: Path) -> None:
    cfg = CampaignConfig(jobs=2, seconds=5, artifacts=tmp_path)
    assert "-fork=2" in command(cfg, tmp_path / "c", [tmp_path / "s"])
    # a -fork given after -- wins
    cmd = command(cfg, tmp_path / "c", [tmp_path / "s"], ["-fork=3"])
    assert [a for a in cmd if a.startswith("-fork")] == ["-fork=3"]


# ---- the CLI ----------------------------------------------------------------------


def test_atheris_missing_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fuzz_cli, "atheris_available", lambda: False)
    r = CliRunner().invoke(cli, ["fuzz", "--engine", "atheris", "--time", "1"])
    assert r.exit_code == 2
    assert "pip install -e '.[fuzz]'" in r.output and INSTALL_HINT.split()[0] in r.output


def test_raw_flags_need_atheris() -> None:
    p = mapfuzz("fuzz", "--time", "1", "--", "-max_len=64")
    assert p.returncode == 2 and "need --engine atheris" in p.stderr


def test_hypothesis_engine_finds_shrinks_and_replays(tmp_path: Path) -> None:
    p = mapfuzz("fuzz", "--engine", "hypothesis", "--variant", "delete-absent-decrements",
                "--no-canary", "--time", "120", "--artifacts", tmp_path, "--json")
    assert p.returncode == 1, p.stderr
    out = json.loads(p.stdout)
    assert out["engine"] == "hypothesis" and out["mode"] == "controlled"
    (finding,) = out["findings"]
    repro = Path(finding["reproducer"])
    shrunk = json.loads(repro.read_text())["found"]["shrunk"]
    assert shrunk["threads"] <= 2 and shrunk["ops"] <= 4
    r = mapfuzz("repro", repro, "--runs", "5", "--json")
    assert r.returncode == 1 and json.loads(r.stdout)["reproduced"] == 5


def test_hypothesis_engine_clean_on_the_correct_map(tmp_path: Path) -> None:
    p = mapfuzz("fuzz", "--engine", "hypothesis", "--no-canary", "--execs", "150",
                "--artifacts", tmp_path, "--json")
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert out["findings"] == [] and out["execs"] >= 150


# ---- atheris (libFuzzer) ----------------------------------------------------------


@needs_atheris
def test_atheris_finds_a_variant_and_both_files_replay(tmp_path: Path) -> None:
    art = tmp_path / "art"
    p = mapfuzz("fuzz", "--engine", "atheris", "--variant", "reader-no-seq-validate",
                "--no-canary", "--time", "60", "--artifacts", art, "--json")
    assert p.returncode == 1, p.stderr
    out = json.loads(p.stdout)
    assert out["engine"] == "atheris"
    assert set(out) == {"target", "variant", "engine", "mode", "seed", "elapsed_s", "execs",
                        "execs_per_s", "canary", "interrupted", "findings", "jobs",
                        "cluster"}
    (finding,) = out["findings"]
    assert finding["class"] == "torn-value"
    repro = Path(finding["reproducer"])
    assert repro.parent == art and f"mapfuzz repro {repro}" in p.stderr
    crashes = list(art.glob("crash-*"))
    assert len(crashes) == 1  # libFuzzer's crash input, next to the JSON reproducer
    r = mapfuzz("repro", repro, "--runs", "5", "--json")
    assert r.returncode == 1 and json.loads(r.stdout)["reproduced"] == 5
    # the raw crash input replays through the entry point (same variant on its command line)
    c = subprocess.run([sys.executable, str(ROOT / "fuzz" / "evacmap.py"),
                        "--variant=reader-no-seq-validate", f"--artifacts={tmp_path / 'again'}",
                        str(crashes[0])], capture_output=True, text=True, timeout=120)
    assert c.returncode == 77 and "torn-value" in c.stderr


@needs_atheris
def test_atheris_jobs_share_one_corpus_and_report_the_finding(tmp_path: Path) -> None:
    art, corpus = tmp_path / "art", tmp_path / "corpus"
    p = mapfuzz("fuzz", "--engine", "atheris", "--jobs", "2", "--variant",
                "reader-no-seq-validate", "--no-canary", "--time", "90", "--artifacts", art,
                "--corpus", corpus, "--json")
    assert p.returncode == 1, p.stderr
    out = json.loads(p.stdout)
    assert out["jobs"] == 2 and out["findings"][0]["class"] == "torn-value"
    assert "fork" in p.stderr or any(corpus.iterdir())
    r = mapfuzz("repro", out["findings"][0]["reproducer"], "--json")
    assert r.returncode == 1 and json.loads(r.stdout)["verdict"] == "violation"


@needs_atheris
def test_atheris_correct_map_with_canary(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    p = mapfuzz("fuzz", "--engine", "atheris", "--execs", "300", "--time", "60",
                "--artifacts", tmp_path / "art", "--corpus", corpus, "--json")
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert out["canary"]["engine"] == "atheris" and out["findings"] == []
    assert out["execs"] >= 300
    assert any(corpus.iterdir())  # libFuzzer grew the corpus directory CI caches


@needs_atheris
def test_merge_reexecs_the_script(tmp_path: Path) -> None:
    out = tmp_path / "merged"
    out.mkdir()
    p = subprocess.run([sys.executable, "fuzz/evacmap.py", "-merge=1", str(out),
                        "fuzz/seeds/evacmap"], capture_output=True, text=True, timeout=300,
                       cwd=ROOT)
    assert p.returncode == 0, p.stderr[-2000:]
    assert "not found" not in p.stderr
    assert any(out.iterdir())
