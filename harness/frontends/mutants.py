"""Mutant check: every seeded evacmap variant must be found within a per-variant budget.

    python -m harness.frontends.mutants [SECONDS_PER_VARIANT] [--engine atheris|random]
                                        [--seed N] [--artifacts DIR] [--json FILE]

Runs the canary once, then one campaign per variant (atheris by default; the
random engine with ``--engine random``), prints a table (variant, found?, class,
seconds and executions to the first finding, reproducer) and exits 1 naming the
variants that escaped, 3 if the canary failed, 0 when every variant was found.
This is what ``nox -s fuzz_mutants`` runs.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from harness.frontends.atheris_driver import run_atheris, run_atheris_canary
from harness.run.target import Target
from harness.search.campaign import CampaignConfig, CanaryFailed, run_campaign, run_canary

DEFAULT_SECONDS = 60.0


def check_variants(
    engine: str, seconds: float, seed: int, artifacts: Path, variants: list[str] | None = None
) -> list[dict[str, Any]]:
    target = Target.load("evacmap")
    rows = []
    base = CampaignConfig(seed=seed, seconds=seconds, canary=False)
    for v in variants or list(target.variants):
        cfg = replace(base, variant=v, artifacts=artifacts / v)
        result = run_atheris(cfg) if engine == "atheris" else run_campaign(cfg)
        f = result.findings[0] if result.findings else None
        rows.append({
            "variant": v,
            "found": f is not None,
            "class": f.cls if f else None,
            "first_found_s": round(f.first_found_s, 2) if f else None,
            "execs_to_find": f.execs_to_find if f else None,
            "execs": result.execs,
            "reproducer": str(f.reproducer) if f else None,
        })
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m harness.frontends.mutants", allow_abbrev=False)
    ap.add_argument("seconds", nargs="?", type=float, default=DEFAULT_SECONDS)
    ap.add_argument("--engine", choices=["atheris", "random"], default="atheris")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--artifacts", type=Path, default=Path("fuzz/artifacts/mutants"))
    ap.add_argument("--json", type=Path, default=None, help="also write the rows here")
    ap.add_argument("--variant", action="append", default=None, help="only these variants")
    args = ap.parse_args(argv)
    out = Console(stderr=True, highlight=False)
    if not out.is_terminal:
        out.width = 200  # CI logs: full variant names and reproducer paths
    try:
        if args.engine == "atheris":
            canary = run_atheris_canary(args.seed)
        else:
            canary = run_canary(args.seed)
    except CanaryFailed as exc:
        out.print(f"[bold red]canary failed:[/] {exc}")
        return 3
    out.print(f"canary: found {canary['variant']} after {canary['found_after_execs']} executions")
    rows = check_variants(args.engine, args.seconds, args.seed, args.artifacts, args.variant)
    table = Table(title=f"seeded evacmap variants, {args.engine}, {args.seconds:g} s each")
    for col in ("variant", "found", "class", "seconds", "execs", "reproducer"):
        table.add_column(col)
    for r in rows:
        table.add_row(
            r["variant"],
            "yes" if r["found"] else "[bold red]ESCAPED[/]",
            r["class"] or "-",
            f"{r['first_found_s']:.2f}" if r["found"] else f">{args.seconds:g}",
            str(r["execs_to_find"] if r["found"] else r["execs"]),
            r["reproducer"] or "-",
        )
    out.print(table)
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(rows, indent=1) + "\n")
    escaped = [r["variant"] for r in rows if not r["found"]]
    if escaped:
        names = ", ".join(escaped)
        out.print(f"[bold red]escaped:[/] {names} (not found within {args.seconds:g} s)")
        return 1
    out.print(f"all {len(rows)} variants found; replay any with: mapfuzz repro <reproducer>")
    return 0


if __name__ == "__main__":
    sys.exit(main())
