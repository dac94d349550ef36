"""The committed regression corpus: each minimised reproducer still finds its seeded
bug on its variant (of evacmap or syncmap: the schedule names its target), and the
same schedule finds nothing on the correct map.

Files are ``corpus/regressions/<variant>--<class>-<hash>.json`` (see corpus/README.md).
When a change makes one of these stop reproducing, either the bug's fix leaked into
the variant or the scheduler's events moved: re-minimise with ``mapfuzz tmin``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from harness.run.execute import RunSpec
from harness.run.inputs import load_input
from harness.run.reproducer import Reproducer
from harness.run.target import Target
from harness.tools.candidates import Case, LocalRuns, signature_of

DIR = Path(__file__).resolve().parents[2] / "corpus" / "regressions"
FILES = sorted(DIR.glob("*.json"))


def reproducer(path: Path) -> Reproducer:
    r = load_input(path).reproducer
    assert r is not None, f"{path} is not a reproducer"
    return r


SEEDED = ("evacmap", "syncmap")
"""The built-in maps with seeded bugs: each bug has a regression here."""


@pytest.fixture(scope="module")
def runs_on() -> Iterator[Callable[[Path], tuple[Reproducer, LocalRuns]]]:
    """A reproducer and candidate runs in this process on the target its schedule names."""
    made: dict[str, LocalRuns] = {}

    def get(path: Path) -> tuple[Reproducer, LocalRuns]:
        r = reproducer(path)
        name = r.schedule.config.target
        if name not in made:
            made[name] = LocalRuns(name)
        return r, made[name]

    yield get
    for runs in made.values():
        runs.close()


def test_every_seeded_variant_has_a_regression() -> None:
    covered = {(reproducer(p).schedule.config.target, reproducer(p).schedule.config.variant)
               for p in FILES}
    for name in SEEDED:
        assert {(name, v) for v in Target.load(name).variants} <= covered, name


@pytest.mark.parametrize("path", FILES, ids=[p.name.split("--")[0] for p in FILES])
def test_regression_finds_its_class_on_its_variant(
    path: Path, runs_on: Callable[[Path], tuple[Reproducer, LocalRuns]]
) -> None:
    r, local = runs_on(path)
    assert r.spec.mode == "controlled" and r.trace
    assert path.name.startswith(f"{r.schedule.config.variant}--{r.main_class}-")
    (a,) = local.attempts(r.schedule, [r.replay_spec()])
    sig = signature_of(r.violations[0], r.schedule)
    case = Case(r.schedule, r.trace, tuple(range(len(r.schedule.keys))))
    assert sig.matches(a.violations, case), f"{path.name}: got {a.violations}"


@pytest.mark.parametrize("path", FILES, ids=[p.name.split("--")[0] for p in FILES])
def test_same_schedule_is_clean_on_the_correct_map(
    path: Path, runs_on: Callable[[Path], tuple[Reproducer, LocalRuns]]
) -> None:
    r, local = runs_on(path)
    correct = replace(r.schedule, config=replace(r.schedule.config, variant=None))
    specs = [r.replay_spec()]  # the bug's own interleaving (if the correct map follows it)
    specs += [RunSpec(strategy="pct", seed=s, pct_depth=3) for s in range(10)]
    specs += [RunSpec(strategy="random", seed=s) for s in range(10)]
    for spec, a in zip(specs, local.attempts(correct, specs), strict=True):
        assert not a.violations, f"{path.name} on the correct map ({spec}): {a.violations}"
