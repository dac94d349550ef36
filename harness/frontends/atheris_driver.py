"""`mapfuzz fuzz --engine atheris`: libFuzzer in a subprocess, its status parsed.

libFuzzer owns the stderr of the process it runs in, so the harness
(``harness.frontends.atheris_target``) runs as a child; this module builds its
command line, reads its output line by line and turns it into the same
``CampaignResult`` (and so the same progress and ``--json`` object) as the random
engine:

* status lines ``#<execs> <EVENT> cov: C ft: F corp: N/<size> ... exec/s: R ...``
  (INITED, NEW, REDUCE, pulse, DONE, RELOAD) give executions, features and corpus;
* ``MAPFUZZ_FINDING {json}`` lines (printed by the harness after it saved the JSON
  reproducer) give the findings;
* a crash the harness could not report itself (the target died by a signal:
  ``deadly signal``; or a libFuzzer ``timeout``) is read back from the crash file
  libFuzzer wrote (``Test unit written to <path>``): the input decodes into the
  schedule and scheduler seed, and a ``crash`` / ``hang`` reproducer is saved.

Budgets map onto libFuzzer flags: ``-max_total_time`` (seconds, rounded up),
``-runs`` (executions), ``-timeout`` (always set), ``-seed`` (the campaign seed + 1:
libFuzzer reads 0 as "pick one"). The seed inputs (the random engine's first
schedules, see ``harness.frontends.seeds``) are written into a temporary directory
and passed after the corpus directory, so libFuzzer only ever writes into the
corpus directory (a temporary one unless ``corpus`` is given).
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import math
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.data.schedule import MapConfig
from harness.frontends.atheris_target import DEFAULT_TIMEOUT, FINDING_TAG
from harness.frontends.mutator import split_input
from harness.frontends.seeds import write_seeds
from harness.oracle import Violation
from harness.run.execute import RunSpec
from harness.run.reproducer import Reproducer, save_safely
from harness.run.target import Target
from harness.search.campaign import (
    CANARY_EXECS,
    CANARY_SECONDS,
    CANARY_VARIANT,
    CampaignConfig,
    CanaryFailed,
)
from harness.search.results import CampaignResult, Report

SEED_INPUTS = 32
MAX_LEN = 16384
INSTALL_HINT = "pip install -e '.[fuzz]'  (atheris 3.0.0 on Python 3.11, 3.1+ on 3.12+)"

_STATUS = re.compile(
    r"^#(?P<execs>\d+)(?::|\s+(?P<event>INITED|NEW|REDUCE|pulse|DONE|RELOAD))\s+(?P<rest>.*)$"
)
"""A status line; ``#N: cov: ...`` (no event) is the fork mode's (``-fork=N``, --jobs)."""
_FIELD = re.compile(r"(cov|ft|corp|exec/s|rss):?\s*(\d+)(?:/(\d+)(b|Kb|Mb))?")
_WRITTEN = re.compile(r"Test unit written to (\S+)")
_ERROR = re.compile(r"==\d+== ERROR: libFuzzer: (.*)$")
_UNITS = {"b": 1, "Kb": 1 << 10, "Mb": 1 << 20}


class AtherisMissing(RuntimeError):
    """atheris is not importable in this interpreter."""


@dataclass(frozen=True, slots=True)
class Status:
    """One libFuzzer status line."""

    execs: int
    event: str
    cov: int = 0
    ft: int = 0
    corpus: int = 0
    corpus_bytes: int = 0
    execs_per_s: int = 0


def parse_status(line: str) -> Status | None:
    """A libFuzzer status line (``#4096 pulse cov: 74 ft: 107 corp: 34/737b ...``), or None."""
    m = _STATUS.match(line.strip())
    if m is None:
        return None
    vals: dict[str, int] = {}
    corpus_bytes = 0
    for name, num, size, unit in _FIELD.findall(m.group("rest")):
        vals[name] = int(num)
        if name == "corp" and size:
            corpus_bytes = int(size) * _UNITS[unit]
    return Status(
        execs=int(m.group("execs")),
        event=m.group("event") or "fork",
        cov=vals.get("cov", 0),
        ft=vals.get("ft", 0),
        corpus=vals.get("corp", 0),
        corpus_bytes=corpus_bytes,
        execs_per_s=vals.get("exec/s", 0),
    )


def parse_finding(line: str) -> dict[str, Any] | None:
    """The JSON of a ``MAPFUZZ_FINDING {...}`` line, or None."""
    line = line.strip()
    if not line.startswith(FINDING_TAG + " "):
        return None
    try:
        obj = json.loads(line[len(FINDING_TAG) + 1 :])
    except json.JSONDecodeError:
        return None
    return obj if isinstance(obj, dict) else None


def atheris_available() -> bool:
    return importlib.util.find_spec("atheris") is not None


@dataclass(slots=True)
class AtherisResult(CampaignResult):
    """A campaign result plus libFuzzer's own figures."""

    cov: int = 0
    corpus: int = 0
    corpus_bytes: int = 0
    exit_code: int = 0
    crash_files: list[Path] = field(default_factory=list)
    log_tail: list[str] = field(default_factory=list)


Progress = Callable[[CampaignResult, Report | None], None]


def command(
    cfg: CampaignConfig,
    corpus: Path,
    seeds: Sequence[Path],
    extra: Sequence[str] = (),
    *,
    counters: bool = True,
) -> list[str]:
    """The harness's command line for a campaign (``extra``: raw libFuzzer flags)."""
    cmd = [sys.executable, "-m", "harness.frontends.atheris_target", f"--target={cfg.target}"]
    if cfg.variant is not None:
        cmd.append(f"--variant={cfg.variant}")
    cmd += [f"--artifacts={cfg.artifacts}", f"--pct-depth={cfg.pct_depth}"]
    if not counters:
        cmd.append("--no-interleaving-counters")
    cmd += [str(corpus), *map(str, seeds)]
    given = {a.split("=", 1)[0] for a in extra if a.startswith("-")}
    flags = {
        "-max_total_time": str(max(1, math.ceil(cfg.seconds))),
        "-timeout": str(DEFAULT_TIMEOUT),
        "-seed": str(cfg.seed + 1),
        "-artifact_prefix": f"{cfg.artifacts}{os.sep}",
        "-max_len": str(MAX_LEN),
        "-print_final_stats": "1",
    }
    if cfg.max_execs is not None:
        flags["-runs"] = str(cfg.max_execs)
    if cfg.jobs > 1:
        # fork mode: N child fuzzers, one corpus (each job's new inputs are merged into it)
        flags["-fork"] = str(cfg.jobs)
    cmd += [f"{k}={v}" for k, v in flags.items() if k not in given]
    cmd += list(extra)
    return cmd


def _crash_reproducer(target: Target, variant: str | None, path: Path, cls: str, detail: str,
                      pct_depth: int) -> Reproducer:
    config = MapConfig(target=target.spec, variant=variant)
    seed, schedule = split_input(path.read_bytes(), config)
    what = "crashed" if cls == "crash" else "hung"
    return Reproducer(
        target_name=target.name,
        target_path=target.path,
        abi_version=target.abi_version,
        spec=RunSpec(mode="controlled", strategy="pct", seed=seed, pct_depth=pct_depth),
        schedule=schedule,
        trace=(),
        trace_hash=None,
        violations=(Violation(cls=cls, key=None, ops=(), explanation=f"the target {what} "
                              f"({detail}; libFuzzer input {path.name})"),),
        found={"engine": "atheris", "crash_file": str(path)},
    )


@contextlib.contextmanager
def _dirs(corpus: Path | None, target_spec: str) -> Iterator[tuple[Path, Path]]:
    with tempfile.TemporaryDirectory(prefix="mapfuzz-atheris-") as tmp:
        seeds = Path(tmp) / "seeds"
        write_seeds(seeds, SEED_INPUTS, target_spec)
        if corpus is None:
            corpus = Path(tmp) / "corpus"
        corpus.mkdir(parents=True, exist_ok=True)
        yield corpus, seeds


def run_atheris(
    cfg: CampaignConfig,
    progress: Progress | None = None,
    *,
    corpus: Path | None = None,
    extra: Sequence[str] = (),
    counters: bool = True,
    engine_name: str = "atheris",
) -> AtherisResult:
    """One libFuzzer campaign (no canary: see ``run_atheris_campaign``)."""
    if not atheris_available():
        raise AtherisMissing(f"atheris is not installed; install it with: {INSTALL_HINT}")
    target = Target.load(cfg.target)
    target.variant_index(cfg.variant)
    result = AtherisResult(
        target=target.name, variant=cfg.variant, engine=engine_name, mode="controlled",
        seed=cfg.seed, jobs=cfg.jobs,
    )
    cfg.artifacts.mkdir(parents=True, exist_ok=True)
    tail: deque[str] = deque(maxlen=40)
    errors: list[str] = []
    start = time.perf_counter()
    with _dirs(corpus, cfg.target) as (corpus_dir, seeds):
        cmd = command(cfg, corpus_dir, [seeds], extra, counters=counters)
        proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            text=True, errors="replace", bufsize=1,
        )
        assert proc.stdout is not None
        try:
            for line in proc.stdout:
                tail.append(line.rstrip("\n"))
                now = time.perf_counter() - start
                st = parse_status(line)
                if st is not None:
                    result.execs = max(result.execs, st.execs)
                    result.features = max(result.features, st.ft)
                    result.cov = max(result.cov, st.cov)
                    result.corpus, result.corpus_bytes = st.corpus, st.corpus_bytes
                    result.elapsed_s = now
                    if progress:
                        progress(result, None)
                    continue
                found = parse_finding(line)
                if found is not None:
                    report = Report(
                        cls=str(found.get("class")),
                        key=found.get("key"),
                        first_found_s=now,
                        execs_to_find=int(found.get("execs", 0)),
                        reproducer=None if found.get("reproducer") is None
                        else Path(str(found.get("reproducer"))),
                        explanation=str(found.get("explanation", "")),
                        write_problem=found.get("write_problem"),
                        reproducer_text=str(found.get("reproducer_text") or ""),
                    )
                    result.findings.append(report)
                    if progress:
                        progress(result, report)
                    continue
                m = _WRITTEN.search(line)
                if m:
                    result.crash_files.append(Path(m.group(1)))
                    continue
                m = _ERROR.search(line)
                if m:
                    errors.append(m.group(1).strip())
        except KeyboardInterrupt:
            proc.terminate()
            raise
        finally:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    result.exit_code = proc.returncode
    result.elapsed_s = time.perf_counter() - start
    result.log_tail = list(tail)
    if result.crash_files and not result.findings:
        # The harness could not speak (the target died by a signal, or a timeout).
        detail = errors[0] if errors else f"libFuzzer exit code {proc.returncode}"
        cls = "hang" if "timeout" in detail else "crash"
        path = result.crash_files[0]
        saved = save_safely(
            _crash_reproducer(target, cfg.variant, path, cls, detail, cfg.pct_depth),
            cfg.artifacts)
        report = Report(cls=cls, key=None, first_found_s=result.elapsed_s,
                        execs_to_find=result.execs, reproducer=saved.path,
                        write_problem=saved.problem,
                        reproducer_text=saved.text if saved.path is None else "",
                        explanation=f"the target {cls}ed: {detail}" if cls == "crash" else
                        f"the target hung: {detail}")
        result.findings.append(report)
        if progress:
            progress(result, report)
    elif proc.returncode not in (0, 77, 70) and not result.findings:
        raise RuntimeError(
            f"libFuzzer exited with code {proc.returncode} and no finding; its last lines:\n"
            + "\n".join(tail)
        )
    return result


def run_atheris_canary(seed: int = 0) -> dict[str, object]:
    """The canary through the atheris path itself: the planted bug must be found."""
    with tempfile.TemporaryDirectory(prefix="mapfuzz-canary-") as tmp:
        cfg = CampaignConfig(variant=CANARY_VARIANT, seed=seed, seconds=CANARY_SECONDS,
                             max_execs=CANARY_EXECS, artifacts=Path(tmp), canary=False)
        res = run_atheris(cfg)
    if not res.findings:
        raise CanaryFailed(
            f"the canary (evacmap variant {CANARY_VARIANT!r}) was not found by atheris in "
            f"{res.execs} executions: detection does not work here, so a green run would "
            "mean nothing. Rebuild with `pip install -e .[fuzz]` and run `pytest tests/quality`."
        )
    return {"variant": CANARY_VARIANT, "found_after_execs": res.findings[0].execs_to_find,
            "engine": "atheris"}


def run_atheris_campaign(
    cfg: CampaignConfig,
    progress: Progress | None = None,
    *,
    corpus: Path | None = None,
    extra: Sequence[str] = (),
) -> AtherisResult:
    """Canary (through atheris), then the campaign."""
    canary = run_atheris_canary(cfg.seed) if cfg.canary else None
    if canary is not None and progress is not None:
        progress(CampaignResult(target=cfg.target, variant=cfg.variant, engine="atheris",
                                mode="controlled", seed=cfg.seed, canary=canary), None)
    result = run_atheris(cfg, progress, corpus=corpus, extra=extra)
    result.canary = canary
    return result
