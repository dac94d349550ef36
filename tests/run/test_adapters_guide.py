"""docs/adapters.md's worked example, tested as written.

The example's source files are the guide's C blocks whose first line is a comment
naming the file (``/* mymap.c: ... */``); its commands are the ``sh`` blocks of the
same section. Both are taken from the guide, the files are written into an empty
directory, and every command runs there, in the guide's order, through bash,
exactly as printed (``mapfuzz`` on PATH is this interpreter's). Each command is
then held to what the guide says it does: the build succeeds, the seeded bug is
found with its class, tmin, explain, repro and run behave as described, the
correct adapter runs clean for the budget shown, and a plain gcc build finds
nothing (and its canary refuses to vouch for it).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness.run.reproducer import load as load_reproducer
from harness.run.target import Target

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "adapters.md"
SECTION = "## Worked example"
FILES = ("mymap.h", "mymap.c", "adapter.c")
VARIANT = "get-via-peek"

pytestmark = pytest.mark.skipif(
    any(shutil.which(tool) is None for tool in ("gcc", "objdump", "addr2line")),
    reason="the guide's example needs gcc and binutils (apt-get install build-essential)",
)

FILE_BLOCK = re.compile(r"^```c\n(/\* ([\w.+-]+): [^\n]*\n.*?)^```", re.S | re.M)
SH_BLOCK = re.compile(r"^```sh\n(.*?)^```", re.S | re.M)


def section(text: str) -> str:
    """The worked example: from its heading to the next second-level heading."""
    start = text.index("\n" + SECTION) + 1
    end = text.find("\n## ", start + len(SECTION))
    return text[start:] if end < 0 else text[start:end]


def example_files(text: str) -> dict[str, str]:
    return {name: body for body, name in FILE_BLOCK.findall(section(text))}


def example_commands(text: str) -> list[str]:
    """Every command of the section's sh blocks, continuation lines joined."""
    cmds: list[str] = []
    for block in SH_BLOCK.findall(section(text)):
        for cmd in block.replace("\\\n", " ").splitlines():
            if cmd.strip() and not cmd.lstrip().startswith("#"):
                cmds.append(cmd.strip())
    return cmds


@dataclass
class Ran:
    cmd: str
    rc: int
    out: str


def line_of(source: str, needle: str) -> int:
    """1-based line of the one line of ``source`` containing ``needle``."""
    (n,) = [i for i, ln in enumerate(source.splitlines(), 1) if needle in ln]
    return n


def only_json(d: Path) -> Path:
    files = sorted(d.glob("*.json"))
    assert len(files) == 1, files
    return files[0]


def no_finding(r: Ran) -> None:
    assert r.rc == 0, r.out
    assert re.search(r"(?<![\d,])0 distinct finding", r.out), r.out


# What the guide says each command does. Every command of the section must match
# exactly one expectation, and every expectation one command.
def _cc(r: Ran, d: Path) -> None:
    assert r.rc == 0, r.out
    t = Target.load(str(d / "mymap.so"))
    assert t.instrumented
    assert t.name == "mymap" and t.variants == (VARIANT,)


def _targets(r: Ran, d: Path) -> None:
    assert r.rc == 0, r.out
    mine = r.out[r.out.index("mymap  ("):]
    assert "caps: multi-writer, put-if-absent\n" in mine and VARIANT in mine, mine


def _fuzz_variant(r: Ran, d: Path) -> None:
    assert r.rc == 1, r.out                       # exit status 1: a finding
    assert "finding: torn-value" in r.out, r.out
    assert f"mymap's first variant {VARIANT} (torn-value)" in r.out   # the canary
    rep = load_reproducer(only_json(d / "findings"))
    assert rep.spec.mode == "controlled"
    assert {v.cls for v in rep.violations} == {"torn-value"}


def _tmin(r: Ran, d: Path) -> None:
    assert r.rc == 0, r.out
    sched = json.loads((d / "small.json").read_text())["schedule"]
    assert len(sched["threads"]) == 2, sched
    assert sum(len(ops) for ops in sched["threads"]) + len(sched["prefill"]) <= 4, sched


def _explain(r: Ran, d: Path) -> None:
    assert r.rc == 1, r.out                       # 1: the violation reproduced
    assert "torn-value" in r.out
    adapter, mymap = (d / "adapter.c").read_text(), (d / "mymap.c").read_text()
    copy = f"adapter.c:{line_of(adapter, 'memcpy(v, s, *vl);')} (a_get)"
    overwrite = f"mymap.c:{line_of(mymap, '/* overwritten in place */')} (mymap_put)"
    # the get stops inside its copy, the put overwrites the value, the get copies
    # the rest and returns torn bytes
    lines = r.out.splitlines()
    copying = [i for i, ln in enumerate(lines) if copy in ln]
    overwriting = [i for i, ln in enumerate(lines) if overwrite in ln]
    torn = [i for i, ln in enumerate(lines) if "<- found TORN" in ln]
    assert any(c < o < t for c in copying for o in overwriting for t in torn), r.out


def _repro(r: Ran, d: Path) -> None:
    assert r.rc == 1, r.out
    assert "reproduced" in r.out and "torn-value" in r.out, r.out


def _run_correct(r: Ran, d: Path) -> None:
    assert r.rc == 0, r.out
    assert "verdict: ok" in r.out, r.out


def _fuzz_correct(r: Ran, d: Path) -> None:
    no_finding(r)
    assert "controlled mode" in r.out


def _fuzz_correct_stress(r: Ran, d: Path) -> None:
    no_finding(r)
    assert "stress mode" in r.out


def _gcc(r: Ran, d: Path) -> None:
    assert r.rc == 0, r.out
    assert not Target.load(str(d / "plain.so")).instrumented


def _fuzz_plain(r: Ran, d: Path) -> None:
    no_finding(r)
    assert not (d / "artifacts").exists() or not any((d / "artifacts").iterdir())


EXPECT: list[tuple[str, Callable[[Ran, Path], None]]] = [
    (r"^mapfuzz cc -o mymap\.so adapter\.c mymap\.c\b", _cc),
    (r"^mapfuzz targets \./mymap\.so$", _targets),
    (rf"^mapfuzz fuzz --target \./mymap\.so --variant {VARIANT} .*--artifacts findings$",
     _fuzz_variant),
    (r"^mapfuzz tmin findings/\*\.json -o small\.json$", _tmin),
    (r"^mapfuzz explain small\.json$", _explain),
    (r"^mapfuzz repro small\.json$", _repro),
    (r"^mapfuzz run small\.json --variant correct$", _run_correct),
    (r"^mapfuzz fuzz --target \./mymap\.so --execs \d+$", _fuzz_correct),
    (r"^mapfuzz fuzz --target \./mymap\.so --mode stress --execs \d+$", _fuzz_correct_stress),
    (r"^gcc .*-o plain\.so adapter\.c mymap\.c$", _gcc),
    (rf"^mapfuzz fuzz --target \./plain\.so --variant {VARIANT} --no-canary --execs \d+$",
     _fuzz_plain),
]


def expectation(cmd: str) -> Callable[[Ran, Path], None]:
    hits = [check for pattern, check in EXPECT if re.search(pattern, cmd)]
    assert len(hits) == 1, f"the guide's command {cmd!r} matches {len(hits)} expectations"
    return hits[0]


def shell(cmd: str, cwd: Path, bindir: Path) -> Ran:
    env = {**os.environ, "PATH": f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}"}
    p = subprocess.run(["bash", "-c", cmd], cwd=cwd, env=env, capture_output=True, text=True,
                       timeout=600)
    return Ran(cmd, p.returncode, p.stdout + p.stderr)


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, list[Ran]]:
    """The example's files written, and its commands run, in an empty directory."""
    text = GUIDE.read_text()
    work = tmp_path_factory.mktemp("guide")
    bindir = tmp_path_factory.mktemp("bin")
    wrapper = bindir / "mapfuzz"
    wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m harness "$@"\n')
    wrapper.chmod(0o755)
    for name, body in example_files(text).items():
        (work / name).write_text(body)
    ran = []
    for cmd in example_commands(text):
        expectation(cmd)                           # no command the test does not judge
        ran.append(shell(cmd, work, bindir))
    return work, bindir, ran


def test_the_example_is_three_files_and_its_commands() -> None:
    text = GUIDE.read_text()
    files = example_files(text)
    assert tuple(files) == FILES
    assert "mf_target_v1" in files["adapter.c"]
    for name in ("mymap.h", "mymap.c"):           # the map has no mapfuzz code
        assert "mapfuzz" not in files[name].split("\n", 1)[1]
        assert "host" not in files[name]
    assert "host->point" not in files["adapter.c"]
    cmds = example_commands(text)
    used = [pattern for pattern, _ in EXPECT if any(re.search(pattern, c) for c in cmds)]
    assert used == [pattern for pattern, _ in EXPECT], "a command the test expects is gone"


def test_each_command_does_what_the_guide_says(example: tuple[Path, Path, list[Ran]]) -> None:
    work, _, ran = example
    assert len(ran) == len(EXPECT)
    for r in ran:
        expectation(r.cmd)(r, work)


def test_without_no_canary_the_plain_build_is_refused(
        example: tuple[Path, Path, list[Ran]]) -> None:
    """The guide: without --no-canary the plain build's campaign exits 3, its canary
    unable to find the seeded variant."""
    work, bindir, ran = example
    (cmd,) = [r.cmd for r in ran if "./plain.so" in r.cmd and "fuzz" in r.cmd]
    r = shell(cmd.replace(" --no-canary", ""), work, bindir)
    assert r.rc == 3, r.out
    assert f"its first seeded variant '{VARIANT}' was not found" in r.out, r.out
