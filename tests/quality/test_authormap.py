"""Quality on a map written the way its author writes it: tests/fixtures/authormap.c
(striped pthread mutexes, a spin lock, no host->point) built with `mapfuzz cc`.

Controlled mode is deterministic, so "found within N executions for seed S" is an
exact statement. put-stale-table needs a rebuild of the table (the 129th insert at
the earliest) while the threads run: schedules are capped at 64 keys, so it takes
4 threads x 256 operations and a prefill of 47 keys to get there.
"""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from harness.run.cc import build
from harness.run.runner import Runner
from harness.run.target import Target
from harness.search.campaign import CampaignConfig, make_engine
from harness.search.engine import first_finding

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "authormap.c"
SEED = 1
BUDGET = 400
CORRECT_BUDGET = 1_500

GROWTH_SHAPE = {"threads": 4, "ops": 256, "keys": 64, "capacity": 64}
EXPECTED: dict[str, tuple[set[str], dict[str, int]]] = {
    "get-copy-unlocked": ({"torn-value", "phantom-value"}, {}),
    "count-unlocked": ({"invariant"}, {}),
    "pia-check-then-insert": ({"invariant", "lost-write", "duplicate-key", "stale-read"}, {}),
    "put-stale-table": ({"invariant", "lost-write", "stale-read"}, GROWTH_SHAPE),
}

pytestmark = pytest.mark.skipif(shutil.which("gcc") is None,
                                reason="mapfuzz cc needs gcc (apt-get install build-essential)")


@pytest.fixture(scope="module")
def authormap(tmp_path_factory: pytest.TempPathFactory) -> Target:
    so = build([FIXTURE], tmp_path_factory.mktemp("am") / "authormap.so",
               ["-Wall", "-Wextra", "-Werror"])
    return Target.load(str(so))


@pytest.fixture(scope="module")
def runner(authormap: Target) -> Runner:
    with Runner(authormap) as r:
        yield r  # type: ignore[misc]


def test_every_variant_has_an_expectation(authormap: Target) -> None:
    assert set(authormap.variants) == set(EXPECTED)


@pytest.mark.parametrize("variant", sorted(EXPECTED))
def test_variant_found_within_budget(variant: str, authormap: Target, runner: Runner) -> None:
    classes_ok, shape = EXPECTED[variant]
    engine = make_engine(CampaignConfig(target=authormap.spec, variant=variant, seed=SEED,
                                        **shape), authormap)
    hit = first_finding(engine, runner, authormap, BUDGET)
    assert hit is not None, f"{variant} escaped {BUDGET} controlled executions (seed {SEED})"
    item, outcome = hit
    classes = {v.cls for v in outcome.violations}
    assert classes & classes_ok, f"{variant} gave {classes} at input {item.index}"
    # the finding replays exactly from its decision trace
    again = runner.run(item.plan, replay=outcome.execution.trace)
    assert again.trace_hash == outcome.execution.trace_hash
    assert again.records == outcome.execution.records


def test_correct_map_gives_no_finding(authormap: Target, runner: Runner) -> None:
    engine = make_engine(CampaignConfig(target=authormap.spec, seed=SEED), authormap)
    hit = first_finding(engine, runner, authormap, CORRECT_BUDGET)
    assert hit is None, f"false alarm on the correct map: input {hit[0].index}: {hit[1].violations}"


def test_cli_finding_replays_minimises_and_explain_names_file_and_line(
    authormap: Target, tmp_path: Path
) -> None:
    def mapfuzz(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "harness", *args], capture_output=True,
                              text=True, cwd=tmp_path)

    assert authormap.path is not None
    res = mapfuzz("fuzz", "--target", authormap.path, "--variant", "get-copy-unlocked",
                  "--execs", str(BUDGET), "--seed", str(SEED), "--no-canary", "--json",
                  "--artifacts", str(tmp_path / "art"))
    assert res.returncode == 1, res.stderr
    found = sorted((tmp_path / "art").glob("*.json"))
    assert found, res.stdout
    repro = found[0]
    assert json.loads(repro.read_text())["mode"] == "controlled"
    # the library lies outside the working directory: the printed replay command
    # confirms it with --target, and runs as printed
    (finding,) = json.loads(res.stdout)["findings"]
    replay = shlex.split(finding["replay"])
    assert replay == ["mapfuzz", "repro", str(repro), "--target", authormap.path]
    again = mapfuzz(*replay[1:])
    assert again.returncode == 1, again.stderr
    assert "differs" not in again.stderr
    shown = mapfuzz("explain", str(repro), "--target", authormap.path)
    assert "authormap.c:" in shown.stdout + shown.stderr
    # it minimises: tmin writes a smaller reproducer of the same class, which replays
    small = tmp_path / "small.json"
    shrunk = mapfuzz("tmin", str(repro), "-o", str(small), "--target", authormap.path,
                     "--time", "60", "--json")
    assert shrunk.returncode == 0, shrunk.stderr
    sizes = json.loads(shrunk.stdout)
    assert sizes["class"] == json.loads(repro.read_text())["verdict"]["violations"][0]["class"]
    assert sizes["after"]["ops"] <= sizes["before"]["ops"]
    assert mapfuzz("repro", str(small), "--target", authormap.path).returncode == 1
