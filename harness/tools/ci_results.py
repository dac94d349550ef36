"""Results for CI: JUnit XML, SARIF 2.1.0 and a Markdown summary of a campaign or of a
replayed regression corpus.

The writers read a small interface, not the campaign's own types, so any source of
findings feeds them: a :class:`CampaignRecord` (what ran, how many executions, the
distinct findings) or a list of :class:`ReplayRecord` (one per reproducer replayed by
``mapfuzz repro``). Each finding is a :class:`FindingRecord`: its class, key, one
sentence of explanation, the replay command, the reproducer's path, the mode, the
target and the schedule-point sites of its witnessing operations.

* JUnit (junitparser): one test case for the campaign (failed when it found anything)
  and one per distinct finding (failed; the text is the explanation and the replay
  command); for ``repro``, one per reproducer, passed when its finding no longer
  reproduces.
* SARIF: one result per distinct finding, ``ruleId`` the class, the location the
  source line of a symbolised site (``file:line (function)``), else the line of the
  target's source where the site is named (evacmap: ``csrc/evacmap.c``), else the
  target's shared library; the reproducer is an artifact.
* Markdown: what ran, executions, the findings with their replay commands.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from junitparser import Failure, JUnitXml, TestCase, TestSuite

import harness

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
SARIF_VERSION = "2.1.0"
EVACMAP_SOURCE = "csrc/evacmap.c"
"""The built-in target's source, relative to the repository root (SARIF's %SRCROOT%)."""
REPO_ROOT = Path(harness.__file__).resolve().parents[1]
SYMBOLISED = re.compile(r"^(?P<file>[^\s:]+):(?P<line>\d+)(?:\s+\((?P<function>[^)]*)\))?$")


@dataclass(frozen=True, slots=True)
class FindingRecord:
    """One distinct finding, as the CI writers and the report read it."""

    cls: str
    key: str | None
    explanation: str
    replay: str
    """The command that replays it: ``mapfuzz repro <reproducer>``."""
    reproducer: Path | None
    mode: str
    target: str
    target_path: str | None = None
    """The target's shared library (None: the built-in evacmap)."""
    variant: str | None = None
    sites: tuple[str, ...] = ()
    """Schedule-point sites of the witnessing operations, in execution order: names
    (``evac:copy``) or symbolised code addresses (``map.c:120 (insert)``)."""
    hits: int = 1
    execs_to_find: int | None = None

    @property
    def title(self) -> str:
        return f"{self.cls} on key {self.key}" if self.key else self.cls


@dataclass(slots=True)
class CampaignRecord:
    """What a campaign ran and found."""

    target: str
    variant: str | None
    engine: str
    mode: str
    seed: int
    execs: int
    elapsed_s: float
    unknown: int = 0
    canary: str | None = None
    """The canary's outcome in words (None: skipped)."""
    findings: list[FindingRecord] = field(default_factory=list)

    @property
    def name(self) -> str:
        what = self.target + (f" variant {self.variant}" if self.variant else "")
        return f"fuzz {what} ({self.engine}, {self.mode}, seed {self.seed})"


@dataclass(frozen=True, slots=True)
class ReplayRecord:
    """One reproducer replayed by ``mapfuzz repro``."""

    file: Path
    finding: FindingRecord
    runs: int
    reproduced: int
    elapsed_s: float = 0.0

    @property
    def fixed(self) -> bool:
        return self.reproduced == 0


def failure_text(f: FindingRecord) -> str:
    return f"{f.explanation}\nreplay with: {f.replay}"


def _finding_case(f: FindingRecord, classname: str) -> TestCase:
    case = TestCase(f.title, classname=classname)
    failure = Failure(f.explanation, f.cls)
    failure.text = failure_text(f)
    case.result = [failure]
    return case


def write_junit(path: Path, campaign: CampaignRecord | None = None,
                replays: Sequence[ReplayRecord] = ()) -> None:
    """A campaign: one test case for it and one per distinct finding. Replays: one test
    case per reproducer, failed when its finding reproduced."""
    xml = JUnitXml("mapfuzz")
    if campaign is not None:
        suite = TestSuite(campaign.name)
        classname = f"mapfuzz.fuzz.{campaign.target}"
        case = TestCase(f"campaign: {campaign.execs} executions", classname=classname,
                        time=round(campaign.elapsed_s, 3))
        if campaign.findings:
            n = len(campaign.findings)
            failure = Failure(f"{n} distinct finding{'s' if n != 1 else ''}", "findings")
            failure.text = "\n\n".join(failure_text(f) for f in campaign.findings)
            case.result = [failure]
        suite.add_testcase(case)
        for f in campaign.findings:
            suite.add_testcase(_finding_case(f, classname))
        xml.add_testsuite(suite)
    if replays:
        suite = TestSuite("mapfuzz repro: every old finding still fixed")
        for r in replays:
            case = TestCase(f"{r.file}: {r.finding.title}", classname="mapfuzz.repro",
                            time=round(r.elapsed_s, 3))
            if not r.fixed:
                failure = Failure(f"reproduced in {r.reproduced} of {r.runs} runs: "
                                  f"{r.finding.explanation}", r.finding.cls)
                failure.text = failure_text(r.finding)
                case.result = [failure]
            suite.add_testcase(case)
        xml.add_testsuite(suite)
    xml.update_statistics()  # type: ignore[no-untyped-call]
    xml.write(str(path), pretty=True)


def _source_location(site: str, target_path: str | None, target: str) -> dict[str, Any] | None:
    """A SARIF physicalLocation for a site: a symbolised ``file:line``, or the line of
    evacmap's source that names the site; None when neither is known."""
    m = SYMBOLISED.match(site)
    if m:
        return {"artifactLocation": {"uri": m["file"]},
                "region": {"startLine": int(m["line"])}}
    if target_path is None and target == "evacmap":
        source = REPO_ROOT / EVACMAP_SOURCE
        try:
            lines = source.read_text().splitlines()
        except OSError:
            return None
        for n, text in enumerate(lines, 1):
            if f'"{site}"' in text:
                return {"artifactLocation": {"uri": EVACMAP_SOURCE, "uriBaseId": "%SRCROOT%"},
                        "region": {"startLine": n}}
    return None


def _locations(f: FindingRecord) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(locations, relatedLocations): the first site with a source line is the location
    (an operation's own entry and exit points last: they say least about the race), the
    others related; with none, the target's library (or evacmap's source)."""
    found: list[tuple[str, dict[str, Any]]] = []
    for site in sorted(f.sites, key=lambda s: s.endswith((":enter", ":exit"))):
        loc = _source_location(site, f.target_path, f.target)
        if loc is not None and all(loc != other for _, other in found):
            found.append((site, loc))
    if not found:
        uri = f.target_path if f.target_path else EVACMAP_SOURCE
        base = {} if f.target_path else {"uriBaseId": "%SRCROOT%"}
        return [{"physicalLocation": {"artifactLocation": {"uri": uri, **base}}}], []
    first, *rest = found
    main = [{"physicalLocation": first[1], "message": {"text": f"schedule point {first[0]}"}}]
    related = [{"id": i, "physicalLocation": loc, "message": {"text": f"schedule point {site}"}}
               for i, (site, loc) in enumerate(rest, 1)]
    return main, related


def sarif_log(findings: Sequence[FindingRecord]) -> dict[str, Any]:
    """A SARIF 2.1.0 log: one run of mapfuzz, one result per distinct finding."""
    rules = sorted({f.cls for f in findings})
    artifacts: list[dict[str, Any]] = []
    artifact_index: dict[str, int] = {}
    results: list[dict[str, Any]] = []
    for f in findings:
        locations, related = _locations(f)
        result: dict[str, Any] = {
            "ruleId": f.cls,
            "ruleIndex": rules.index(f.cls),
            "level": "error",
            "message": {"text": f"{f.explanation} Replay with: {f.replay}"},
            "locations": locations,
            "properties": {"key": f.key, "mode": f.mode, "target": f.target,
                           "variant": f.variant, "hits": f.hits, "sites": list(f.sites),
                           "replay": f.replay},
        }
        if related:
            result["relatedLocations"] = related
        if f.reproducer is not None:
            uri = f.reproducer.as_posix()
            if uri not in artifact_index:  # SARIF wants each artifact once
                artifact_index[uri] = len(artifacts)
                artifacts.append({"location": {"uri": uri},
                                  "description": {"text": f"reproducer: {f.replay}"},
                                  "mimeType": "application/json", "roles": ["debugOutputFile"]})
            result["attachments"] = [{
                "artifactLocation": {"uri": uri, "index": artifact_index[uri]},
                "description": {"text": "the reproducer: replay it with mapfuzz repro"},
            }]
        results.append(result)
    run: dict[str, Any] = {
        "tool": {"driver": {
            "name": "mapfuzz",
            "version": harness.__version__,
            "informationUri": "https://pypi.org/project/mapfuzz/",
            "rules": [{"id": cls, "name": cls,
                       "shortDescription": {"text": f"mapfuzz violation class {cls}"}}
                      for cls in rules],
        }},
        "originalUriBaseIds": {"%SRCROOT%": {"uri": REPO_ROOT.as_uri() + "/"}},
        "results": results,
    }
    if artifacts:
        run["artifacts"] = artifacts
    return {"$schema": SARIF_SCHEMA, "version": SARIF_VERSION, "runs": [run]}


def write_sarif(path: Path, findings: Sequence[FindingRecord]) -> None:
    path.write_text(json.dumps(sarif_log(findings), indent=1) + "\n")


def _finding_lines(findings: Sequence[FindingRecord]) -> list[str]:
    lines: list[str] = []
    for f in findings:
        hits = f" ({f.hits} hits)" if f.hits > 1 else ""
        lines.append(f"- **{f.title}**{hits}: {f.explanation}  ")
        lines.append(f"  replay with: `{f.replay}`")
    return lines


def summary_markdown(campaign: CampaignRecord | None = None,
                     replays: Sequence[ReplayRecord] = ()) -> str:
    """A short Markdown summary for a CI step summary."""
    lines: list[str] = []
    if campaign is not None:
        n = len(campaign.findings)
        verdict = f"{n} distinct finding{'s' if n != 1 else ''}" if n else "no finding"
        rate = campaign.execs / campaign.elapsed_s if campaign.elapsed_s else 0.0
        lines += [
            f"## mapfuzz: {verdict}",
            "",
            f"`mapfuzz {campaign.name}`: {campaign.execs:,} executions in "
            f"{campaign.elapsed_s:,.1f} s ({rate:,.0f}/s), {campaign.unknown:,} undecided.",
        ]
        if campaign.canary:
            lines.append(f"Canary: {campaign.canary}.")
        if campaign.findings:
            lines += ["", *_finding_lines(campaign.findings)]
    if replays:
        back = [r for r in replays if not r.fixed]
        lines += [
            *([""] if lines else []),
            f"## mapfuzz repro: {len(replays) - len(back)} of {len(replays)} old findings "
            "still fixed",
        ]
        if back:
            lines += ["", "Reproduced again:", "", *_finding_lines([r.finding for r in back])]
    return "\n".join(lines) + "\n"


def write_summary(path: Path, campaign: CampaignRecord | None = None,
                  replays: Sequence[ReplayRecord] = ()) -> None:
    path.write_text(summary_markdown(campaign, replays))
