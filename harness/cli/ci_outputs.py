"""`--junit`, `--sarif` and `--summary` of `mapfuzz fuzz` and `mapfuzz repro`: the glue
between a command's results and the writers of harness.tools.ci_results.

The files are results of the run that writes them: a second run replaces them (CI
writes them on every run). Their directories are checked before any work starts.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import click

from harness.cli.common import fail
from harness.run import reproducer
from harness.run.reproducer import output_dir_problem
from harness.search.results import CampaignResult
from harness.tools.ci_results import (
    CampaignRecord,
    FindingRecord,
    ReplayRecord,
    write_junit,
    write_sarif,
    write_summary,
)
from harness.tools.findings import finding_record, replay_once

F = TypeVar("F", bound=Callable[..., Any])


def ci_output_options(f: F) -> F:
    path = click.Path(dir_okay=False, path_type=Path)
    for name, what in (
        ("--summary", "a short Markdown summary (what ran, executions, findings with "
                      "replay commands), for a CI step summary"),
        ("--sarif", "SARIF 2.1.0: one result per distinct finding"),
        ("--junit", "JUnit XML: one test case per campaign and per distinct finding"),
    ):
        f = click.option(name, type=path, default=None, help=f"write {what} to FILE")(f)
    return f


def check_ci_outputs(**files: Path | None) -> None:
    """Before any work: each file's directory can be written (exit 2 naming it)."""
    for flag, path in files.items():
        if path is None:
            continue
        if path.is_dir():
            fail(f"--{flag} {path} is a directory; pass a file name")
        problem = output_dir_problem(path.parent)
        if problem:
            fail(f"--{flag} {path}: {problem}")


def campaign_record(result: CampaignResult) -> CampaignRecord:
    """The campaign's distinct findings, each with the sites of its witnesses (a
    controlled reproducer is replayed once for them)."""
    findings: list[FindingRecord] = []
    for report in result.findings:
        if report.reproducer is None:
            findings.append(FindingRecord(
                cls=report.cls, key=report.key, explanation=report.explanation,
                replay="(no reproducer file: see the log)", reproducer=None,
                mode=result.mode, target=result.target, variant=result.variant,
                execs_to_find=report.execs_to_find,
            ))
            continue
        r = reproducer.load(report.reproducer)
        outcome = replay_once(r).outcome if r.spec.mode == "controlled" else None
        findings.append(finding_record(
            r, report.reproducer, outcome=outcome, hits=report.hits,
            execs_to_find=report.execs_to_find,
        ))
    canary = None
    if result.canary:
        canary = (f"found {result.canary['variant']} after "
                  f"{result.canary['found_after_execs']} executions")
    return CampaignRecord(
        target=result.target, variant=result.variant, engine=result.engine, mode=result.mode,
        seed=result.seed, execs=result.execs, elapsed_s=result.elapsed_s,
        unknown=result.unknown, canary=canary, findings=findings,
    )


def write_ci_outputs(
    junit: Path | None,
    sarif: Path | None,
    summary: Path | None,
    campaign: CampaignRecord | None = None,
    replays: Sequence[ReplayRecord] = (),
) -> None:
    findings = campaign.findings if campaign is not None else \
        [r.finding for r in replays if not r.fixed]
    try:
        for path in (junit, sarif, summary):
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
        if junit is not None:
            write_junit(junit, campaign, replays)
        if sarif is not None:
            write_sarif(sarif, findings)
        if summary is not None:
            write_summary(summary, campaign, replays)
    except OSError as exc:
        fail(f"cannot write {exc.filename}: {exc.strerror} (the findings are printed above)")
