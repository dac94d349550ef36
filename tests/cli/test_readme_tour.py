"""The README's tour prints what the README says it prints (times, rates and the
worker count aside)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from tests.cli.test_cli import mapfuzz
from tests.fixtures.runner_support import ROOT

TIMES = re.compile(r"\(\d+\.\d+ s\)|\d+\.\d+ s|\(\d[\d,]*/s\)")
WORKERS = re.compile(r", \d+ jobs?$| on \d+ workers")
"""The worker count: the machine's cores by default (absent from a 1-core run)."""
DONE = re.compile(r"^(done|interrupted): [\d,]+ executions?")
"""The total: with more than one worker, the others may run inputs past the finding
before it is known."""


def normalised(line: str) -> str:
    line = DONE.sub(r"\1: <n> executions", line.rstrip())
    return WORKERS.sub("", TIMES.sub("<time>", line))


def tour() -> tuple[list[str], list[str]]:
    """(the tour's fuzz command, the sample output the README shows for it)."""
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## A short tour"):]
    command = next(line for line in section.splitlines() if line.startswith("mapfuzz fuzz "))
    sample = re.search(r"how to\nreplay it.*?\n\n```\n(.*?)```", section, re.S)
    assert sample, "the README's tour has no sample output block"
    return shlex.split(command)[1:], sample.group(1).splitlines()


def test_readme_tour_output_matches(tmp_path: Path) -> None:
    args, sample = tour()
    assert args[:2] == ["fuzz", "--variant"] and "--artifacts" in args
    p = mapfuzz(*args, cwd=tmp_path)
    assert p.returncode == 1, p.stderr
    printed = [normalised(line) for line in p.stderr.splitlines()]
    expected = [normalised(line) for line in sample]
    # every line of the sample, in order (the plain progress lines of a log come between)
    it = iter(printed)
    missing = [line for line in expected if line not in it]
    assert not missing, f"README sample lines not printed: {missing}\nprinted:\n{p.stderr}"
