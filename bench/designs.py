"""Measure only `mapfuzz bench`'s "designs side by side" section and put it into
BENCHMARKS.md in place of the previous one (the rest of the file is kept).

    python bench/designs.py [--quick] [-o BENCHMARKS.md]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from harness.bench.designs import MARKER, bench_designs, designs_markdown, splice
from harness.bench.suite import machine_facts


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer operations and rounds")
    ap.add_argument("-o", "--output", type=Path, default=Path("BENCHMARKS.md"))
    args = ap.parse_args()
    results = {"designs": bench_designs(args.quick, lambda s: print(s, file=sys.stderr))}
    m = machine_facts()
    command = f"python bench/designs.py{' --quick' if args.quick else ''}"
    block = designs_markdown(results, command, f"on {m['date']}, {m['cpu']}, {m['cores']} cores")
    splice(args.output, MARKER, block)
    print(results["designs"]["claim"])
    print(f"written to {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
