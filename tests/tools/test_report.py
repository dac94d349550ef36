"""`mapfuzz report`: one self-contained page per artifacts directory, checked in a real
browser (headless Chromium through Selenium) for a controlled and a stress finding.

The browser test needs Debian's chromium and chromium-driver (.ci/run installs them)
and skips with a one-line message where they are absent.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Iterator
from io import BytesIO
from pathlib import Path
from typing import Any

import pytest

from harness.run import reproducer
from harness.run.inputs import load_input
from harness.search.campaign import CampaignConfig, run_campaign
from tests.cli.test_cli import mapfuzz

WITNESS_RGB = (229, 72, 77)  # the template's fill for witnessing operations (#e5484d)
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--window-size=1100,3000")


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A controlled and a stress finding of the same seeded bug, as fuzz writes them."""
    art = tmp_path_factory.mktemp("art")
    for mode, seed in (("controlled", 2), ("stress", 1)):
        cfg = CampaignConfig(variant="reader-no-seq-validate", mode=mode, seed=seed,
                             canary=False, max_execs=20_000, seconds=120, artifacts=art)
        (found,) = run_campaign(cfg).findings
        assert found.reproducer is not None
    (art / "notes.json").write_text("[]\n")  # not a reproducer: listed as skipped
    return art


@pytest.fixture(scope="module")
def page(artifacts: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("report") / "report.html"
    p = mapfuzz("report", artifacts, "-o", out)
    assert p.returncode == 0, p.stderr
    assert f"2 findings from {artifacts}: written to {out}" in p.stderr
    return out


def test_stress_reproducers_keep_their_history(artifacts: Path) -> None:
    modes = {}
    for f in artifacts.glob("torn-value-*.json"):
        r = reproducer.load(f)
        modes[r.spec.mode] = r
    assert set(modes) == {"controlled", "stress"}
    assert modes["stress"].history is not None and modes["controlled"].history is None
    ops = modes["stress"].history["ops"]
    assert all(0 <= i < len(ops) for i in modes["stress"].violations[0].ops)


def test_page_is_self_contained_with_both_findings(page: Path) -> None:
    html = page.read_text()
    assert re.findall(r'(?:src|href)="(?!#)', html) == []  # nothing fetched at view time
    assert "http" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")
    sections = re.findall(r'<section class="finding"[^>]*data-mode="(\w+)"', html)
    assert sorted(sections) == ["controlled", "stress"]
    assert html.count('class="op witness') >= 2
    assert "the history recorded when found" in html
    assert "a replay of the recorded decisions" in html
    assert "Linearization attempt" in html and "notes.json" in html


def test_report_refuses_to_replace_a_file_it_did_not_write(tmp_path: Path, artifacts: Path) -> None:
    mine = tmp_path / "report.html"
    mine.write_text("<html>my own page</html>")
    p = mapfuzz("report", artifacts, "-o", mine)
    assert p.returncode == 2 and "not a mapfuzz report" in p.stderr
    assert mine.read_text() == "<html>my own page</html>"
    empty = tmp_path / "empty"
    empty.mkdir()
    p = mapfuzz("report", empty, "-o", tmp_path / "r.html")
    assert p.returncode == 2 and "no reproducers" in p.stderr


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if chromium is None or driver is None:
        pytest.skip("chromium/chromium-driver not installed (apt-get install chromium "
                    "chromium-driver): the report's browser test needs them")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    for flag in CHROMIUM_FLAGS:
        opts.add_argument(flag)
    with tempfile.TemporaryDirectory(prefix="mapfuzz-chromium-") as profile:
        opts.add_argument(f"--user-data-dir={profile}")
        d = webdriver.Chrome(service=Service(driver), options=opts)
        try:
            yield d
        finally:
            d.quit()


def test_each_finding_timeline_is_drawn_in_a_browser(
    browser: Any, page: Path, artifacts: Path, tmp_path: Path
) -> None:
    from PIL import Image
    from selenium.webdriver.common.by import By

    shapes = {}  # mode -> (threads, operations of the threads) of its reproducer
    for f in artifacts.glob("torn-value-*.json"):
        r = load_input(f).reproducer
        assert r is not None
        shapes[r.spec.mode] = (len(r.schedule.threads), sum(map(len, r.schedule.threads)))
    browser.get(page.as_uri())
    sections = browser.find_elements(By.CSS_SELECTOR, "section.finding")
    assert len(sections) == 2
    for sec in sections:
        browser.execute_script("arguments[0].scrollIntoView()", sec)
        svg = sec.find_element(By.CSS_SELECTOR, "svg.timeline")
        assert svg.is_displayed() and svg.size["width"] > 500
        lanes = [g.get_attribute("data-lane") for g in svg.find_elements(By.CSS_SELECTOR, "g.lane")]
        threads, ops = shapes[sec.get_attribute("data-mode")]
        assert lanes == ["main"] + [f"t{t}" for t in range(threads)]  # one lane per thread
        bars = svg.find_elements(By.CSS_SELECTOR, "rect.op")
        assert len(bars) >= ops  # every thread's operations, plus prefill and post
        assert all(b.size["width"] >= 3 for b in bars)
        witnesses = svg.find_elements(By.CSS_SELECTOR, "rect.op.witness")
        assert witnesses
        for w in witnesses:
            assert w.is_displayed() and w.size["height"] > 10
            assert w.value_of_css_property("fill") == "rgb({}, {}, {})".format(*WITNESS_RGB)
        labels = [t.text for t in svg.find_elements(By.CSS_SELECTOR, "text.op-label")]
        assert labels and all("TORN" in t for t in labels)  # what the witness returned
        shot = tmp_path / f"{sec.get_attribute('id')}.png"
        assert svg.screenshot(str(shot))
        image = Image.open(BytesIO(shot.read_bytes())).convert("RGB")
        colours = image.getcolors(maxcolors=1 << 16) or []
        assert len(colours) > 20, "a blank or single-colour screenshot"
        assert any(rgb == WITNESS_RGB for _, rgb in colours), "the highlighted op is not painted"
