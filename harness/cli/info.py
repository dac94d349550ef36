"""`mapfuzz targets` and `mapfuzz bench`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from harness.cli.common import cli, emit_json, err, fail
from harness.run.target import BUILTINS, Target, TargetError

CAP_NAMES = {1: "multi-writer", 2: "put-if-absent", 4: "iterate", 8: "exact-len", 16: "events"}


@cli.command()
@click.argument("paths", nargs=-1, type=click.Path(dir_okay=False))
@click.option("--json", "json_mode", is_flag=True)
def targets(paths: tuple[str, ...], json_mode: bool) -> None:
    """List targets: the built-in maps (evacmap, syncmap, rwmap), the adapters for real
    maps, and any .so given.

    An adapter whose library is not installed is listed with the reason and the
    command that installs it."""
    from harness.run.adapters import status

    rows: list[dict[str, Any]] = []
    specs: list[str] = list(BUILTINS)
    for adapter in status():
        if adapter.path is None:
            rows.append(
                {
                    "name": adapter.name,
                    "path": None,
                    "abi_version": None,
                    "caps": [],
                    "variants": [],
                    "unavailable": adapter.reason,
                }
            )
        else:
            specs.append(adapter.name)
    for spec in (*specs, *paths):
        try:
            t = Target.load(spec)
        except TargetError as exc:
            fail(str(exc))
        caps = [name for bit, name in CAP_NAMES.items() if t.caps & bit]
        rows.append(
            {
                "name": t.name,
                "path": t.path,
                "abi_version": t.abi_version,
                "caps": caps,
                "variants": list(t.variants),
            }
        )
    if json_mode:
        emit_json(rows)
        return
    for row in rows:
        if row.get("unavailable"):
            click.echo(f"{row['name']}  (unavailable: {row['unavailable']})")
            continue
        click.echo(f"{row['name']}  ({row['path'] or 'built-in'}, ABI v{row['abi_version']})")
        click.echo(f"  caps: {', '.join(row['caps']) or 'none'}")
        variants = row["variants"]
        click.echo(f"  variants ({len(variants)}): {', '.join(variants) or 'none'}")


@cli.command()
@click.option("--quick", is_flag=True, help="fewer seeds and shorter budgets")
@click.option("--json", "json_mode", is_flag=True, help="print the results as JSON")
@click.option(
    "-o",
    "output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="write the Markdown report here (BENCHMARKS.md in the repository); without -o "
    "it goes to stdout",
)
@click.option("--force", is_flag=True, help="replace an existing -o file")
@click.option("--section", "sections", multiple=True, metavar="NAME",
              help="measure only this section (repeatable): throughput, oracle, maps, "
              "designs, detection, tmin, witness, cc, scaling, growth; default: all of them")
def bench(quick: bool, json_mode: bool, output: Path | None, force: bool,
          sections: tuple[str, ...]) -> None:
    """Measure detection of every seeded bug, throughput, oracle speed, the designs side
    by side (evacmap, syncmap, rwmap, Go's maps), tmin and the stress-to-controlled
    witness search; print the Markdown report, or write it to -o."""
    from harness.bench.suite import SECTION_NAMES, render_markdown, run_bench
    from harness.run.reproducer import output_dir_problem

    unknown = [s for s in sections if s not in SECTION_NAMES]
    if unknown:
        fail(f"--section {unknown[0]}: no such section; choose from {', '.join(SECTION_NAMES)}")
    if output is not None:
        if output.exists() and not force:
            fail(f"-o {output} exists; pass --force to replace it, or another -o")
        problem = output_dir_problem(output.parent)
        if problem:
            fail(f"-o {output}: {problem}")
    results = run_bench(quick=quick, log=None if json_mode else err.print, only=sections)
    text = render_markdown(results)
    if output is not None:
        try:
            output.write_text(text)
        except OSError as exc:
            click.echo(text)
            fail(f"-o {output}: cannot write ({exc.strerror}); the report is printed above")
    if json_mode:
        emit_json(results)
    elif output is None:
        click.echo(text, nl=False)
    else:
        err.print(f"written to {output}")
