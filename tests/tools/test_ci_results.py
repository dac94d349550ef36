"""JUnit, SARIF and the Markdown summary: the files CI reads, checked the way CI reads
them (junitparser for JUnit, the official SARIF 2.1.0 JSON schema for SARIF).

The schema is tests/fixtures/sarif/sarif-schema-2.1.0.json (see the README beside it
for where it comes from).
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from junitparser import Failure, JUnitXml

from harness.tools.ci_results import (
    EVACMAP_SOURCE,
    REPO_ROOT,
    CampaignRecord,
    FindingRecord,
    ReplayRecord,
    sarif_log,
    summary_markdown,
    write_junit,
)
from tests.cli.test_cli import mapfuzz

SCHEMA = json.loads((Path(__file__).parents[1] / "fixtures" / "sarif" /
                     "sarif-schema-2.1.0.json").read_text())
REGRESSIONS = REPO_ROOT / "corpus" / "regressions"


def valid_sarif(log: dict[str, Any]) -> dict[str, Any]:
    jsonschema.validate(log, SCHEMA, cls=jsonschema.Draft4Validator)
    return log


def finding(**kw: Any) -> FindingRecord:
    base: dict[str, Any] = dict(cls="lost-write", key="int:1", explanation="a write was lost.",
                                replay="mapfuzz repro art/lost-write-1.json",
                                reproducer=Path("art/lost-write-1.json"), mode="controlled",
                                target="mymap", target_path="/opt/mymap/adapter.so")
    return FindingRecord(**{**base, **kw})


def test_the_schema_rejects_what_it_must() -> None:
    """The committed schema is the real one: it refuses a result without a message."""
    log = sarif_log([finding()])
    del log["runs"][0]["results"][0]["message"]
    with pytest.raises(jsonschema.ValidationError):
        valid_sarif(log)


def test_sarif_location_is_the_symbolised_site_else_the_library() -> None:
    symbolised = finding(sites=("mymap:enter", "src/map.c:120 (insert)", "src/map.c:88 (grow)"))
    log = valid_sarif(sarif_log([symbolised, finding(cls="torn-value")]))
    run = log["runs"][0]
    assert [r["id"] for r in run["tool"]["driver"]["rules"]] == ["lost-write", "torn-value"]
    first, second = run["results"]
    loc = first["locations"][0]["physicalLocation"]
    assert loc == {"artifactLocation": {"uri": "src/map.c"}, "region": {"startLine": 120}}
    assert first["relatedLocations"][0]["physicalLocation"]["region"]["startLine"] == 88
    lib = second["locations"][0]["physicalLocation"]["artifactLocation"]
    assert lib == {"uri": "/opt/mymap/adapter.so"}
    assert first["attachments"][0]["artifactLocation"]["uri"] == "art/lost-write-1.json"
    assert run["artifacts"][0]["location"]["uri"] == "art/lost-write-1.json"


def test_sarif_location_of_an_evacmap_site_is_the_line_naming_it() -> None:
    f = finding(target="evacmap", target_path=None, sites=("get:enter", "read:val-word"))
    (result,) = valid_sarif(sarif_log([f]))["runs"][0]["results"]
    loc = result["locations"][0]["physicalLocation"]
    assert loc["artifactLocation"]["uri"] == EVACMAP_SOURCE
    line = (REPO_ROOT / EVACMAP_SOURCE).read_text().splitlines()[loc["region"]["startLine"] - 1]
    assert '"read:val-word"' in line


def test_junit_replays_pass_when_fixed(tmp_path: Path) -> None:
    fixed = ReplayRecord(Path("a.json"), finding(), runs=1, reproduced=0)
    back = ReplayRecord(Path("b.json"), finding(cls="torn-value"), runs=20, reproduced=3)
    out = tmp_path / "r.xml"
    write_junit(out, replays=[fixed, back])
    (suite,) = JUnitXml.fromfile(str(out))
    a, b = list(suite)
    assert a.is_passed and not b.is_passed
    (fail,) = b.result
    assert isinstance(fail, Failure) and fail.type == "torn-value"
    assert "reproduced in 3 of 20 runs" in (fail.message or "")
    assert fail.text == "a write was lost.\nreplay with: mapfuzz repro art/lost-write-1.json"


def test_summary_names_what_ran_and_how_to_replay() -> None:
    c = CampaignRecord(target="evacmap", variant=None, engine="random", mode="controlled",
                       seed=0, execs=12345, elapsed_s=10.0, findings=[finding(hits=4)])
    text = summary_markdown(c)
    assert text.startswith("## mapfuzz: 1 distinct finding\n")
    assert "12,345 executions" in text and "(4 hits)" in text
    assert "replay with: `mapfuzz repro art/lost-write-1.json`" in text


def test_fuzz_writes_junit_sarif_and_summary(tmp_path: Path) -> None:
    art, out = tmp_path / "art", tmp_path / "ci"
    p = mapfuzz("fuzz", "--variant", "reader-no-seq-validate", "--no-canary", "--execs", "3000",
                "--seed", "2", "--artifacts", art, "--junit", out / "fuzz.xml",
                "--sarif", out / "fuzz.sarif", "--summary", out / "summary.md", "--json")
    assert p.returncode == 1, p.stderr
    (found,) = json.loads(p.stdout)["findings"]
    replay = f"mapfuzz repro {found['reproducer']}"
    (suite,) = JUnitXml.fromfile(str(out / "fuzz.xml"))
    campaign, case = list(suite)
    assert campaign.name.startswith("campaign: ") and not campaign.is_passed
    assert case.name.startswith("torn-value on key ")
    (fail,) = case.result
    assert fail.type == "torn-value" and fail.text.endswith(f"\nreplay with: {replay}")
    assert "torn bytes" in fail.text
    (result,) = valid_sarif(json.loads((out / "fuzz.sarif").read_text()))["runs"][0]["results"]
    assert result["ruleId"] == "torn-value"
    assert result["attachments"][0]["artifactLocation"]["uri"] == found["reproducer"]
    loc = result["locations"][0]["physicalLocation"]
    assert loc["artifactLocation"]["uri"] == EVACMAP_SOURCE and loc["region"]["startLine"] > 1
    assert result["properties"]["sites"], "the witness's schedule points are named"
    summary = (out / "summary.md").read_text()
    assert "1 distinct finding" in summary and f"`{replay}`" in summary


def test_fuzz_without_finding_writes_a_passing_campaign(tmp_path: Path) -> None:
    out = tmp_path / "ci"
    p = mapfuzz("fuzz", "--no-canary", "--execs", "50", "--artifacts", tmp_path / "art",
                "--junit", out / "fuzz.xml", "--sarif", out / "fuzz.sarif",
                "--summary", out / "summary.md")
    assert p.returncode == 0, p.stderr
    (suite,) = JUnitXml.fromfile(str(out / "fuzz.xml"))
    (case,) = list(suite)
    # --execs is an input budget (the engine's feedback may skip inputs): at most 50 ran
    m = re.fullmatch(r"campaign: ([0-9,]+) executions?", case.name)
    assert case.is_passed and m and 0 < int(m[1].replace(",", "")) <= 50, case.name
    assert valid_sarif(json.loads((out / "fuzz.sarif").read_text()))["runs"][0]["results"] == []
    assert (out / "summary.md").read_text().startswith("## mapfuzz: no finding\n")


def test_repro_over_a_corpus_gates_on_every_old_finding_still_fixed(tmp_path: Path) -> None:
    corpus = tmp_path / "regressions"
    corpus.mkdir()
    still = sorted(REGRESSIONS.glob("*.json"))[0]
    shutil.copy(still, corpus / still.name)
    fixed = json.loads(still.read_text())
    fixed["schedule"]["config"]["variant"] = None  # the bug's fix: the correct map
    (corpus / "fixed.json").write_text(json.dumps(fixed))
    out = tmp_path / "ci"
    p = mapfuzz("repro", corpus, "--junit", out / "repro.xml", "--sarif", out / "repro.sarif",
                "--summary", out / "summary.md")
    assert p.returncode == 1, p.stderr
    assert "1 of 2 reproducers no longer reproduce; 1 reproduced" in p.stderr
    (suite,) = JUnitXml.fromfile(str(out / "repro.xml"))
    cases = {Path(c.name.split(":")[0]).name: c for c in suite}
    assert cases["fixed.json"].is_passed
    back = cases[still.name]
    assert not back.is_passed
    assert back.result[0].text.endswith(f"replay with: mapfuzz repro {corpus / still.name}")
    (result,) = valid_sarif(json.loads((out / "repro.sarif").read_text()))["runs"][0]["results"]
    assert result["ruleId"] == json.loads(still.read_text())["verdict"]["violations"][0]["class"]
    assert "1 of 2 old findings still fixed" in (out / "summary.md").read_text()
