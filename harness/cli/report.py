"""`mapfuzz report`: the findings of an artifacts directory as one HTML page."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from harness.cli.common import EXIT_OK, check_out_dir, cli, err, fail

GENERATOR = '<meta name="generator" content="mapfuzz report">'
"""Marks a page mapfuzz wrote: only such a file is replaced by the next report."""


@cli.command()
@click.argument("artifacts_dir", type=click.Path(path_type=Path))
@click.option(
    "-o",
    "--output",
    "out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("report.html"),
    show_default=True,
    help="the HTML file (an earlier mapfuzz report there is replaced; any other file is not)",
)
@click.option(
    "--target",
    "confirmed",
    multiple=True,
    help="a target library the reproducers name that may be loaded (one outside this "
    "project and mapfuzz's cache is loaded only when named here; repeatable)",
)
def report(artifacts_dir: Path, out: Path, confirmed: tuple[str, ...]) -> None:
    """Write one self-contained HTML page (no network needed to view it) for the
    reproducers under ARTIFACTS_DIR: an overview, and per finding a timeline with one
    lane per thread, the witnessing operations highlighted, the key's linearization
    attempt, the interleaving around the witnesses and the replay command.

    Controlled reproducers are replayed for their history; stress reproducers show the
    history they recorded."""
    from harness.tools.report import build, render

    if not artifacts_dir.is_dir():
        fail(f"{artifacts_dir}: not a directory; pass the directory findings were written "
             "to (--artifacts of mapfuzz fuzz)")
    if out.exists() and GENERATOR not in out.read_text(errors="replace")[:2000]:
        fail(f"-o {out} exists and is not a mapfuzz report; pass another -o")
    check_out_dir(out.parent, "-o")
    page = build(artifacts_dir, confirmed)
    for _, why in page.skipped:
        err.print(f"skipped {why}", markup=False)
    if not page.findings:
        fail(f"{artifacts_dir}: no reproducers (*.json) inside"
             + (f"; {len(page.skipped)} JSON files are not reproducers" if page.skipped else ""))
    html = render(page)
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        out.write_text(html)
    except OSError as exc:
        fail(f"-o {out}: cannot write ({exc.strerror})")
    n = len(page.findings)
    err.print(f"{n} finding{'s' if n != 1 else ''} from {artifacts_dir}: written to {out}")
    sys.exit(EXIT_OK)
