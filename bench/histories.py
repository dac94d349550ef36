"""Write the JSON-lines histories of the oracle comparison table (check-history vs Porcupine).

Every history comes from ``harness.data.synth.synthetic_history``: a simulated atomic
map (gets 45%, puts 30%, deletes 15%, put_if_absent 10%, every written value unique),
so each one is linearizable by construction. ``--stale`` also writes a copy of each
with one injected stale read (a get that returns the value its key held before the
last write that returned before the get was called), which must be a violation.

    python bench/histories.py DIR            # all rows of the table
    python bench/histories.py DIR --stale    # and a stale-read copy of each
    python bench/histories.py DIR --only 100k

Files: ``DIR/<name>.jsonl`` (and ``DIR/<name>-stale.jsonl``); names and shapes in
harness.bench.scaling.ROWS (`mapfuzz bench` measures the same histories).
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from harness.bench.scaling import ROWS
from harness.data.history import History, Operation
from harness.data.history_file import history_lines
from harness.data.synth import synthetic_history


def inject_stale_read(h: History) -> int:
    """Make one get return a value its key no longer held: the first get that found a
    value on a key whose writes before it (returned before its call) include two puts
    in a row. Returns the index of the changed operation."""
    last: dict[int, list[Operation]] = {}
    done = sorted((o for o in h.ops if o.ret is not None and o.kind == "put"),
                  key=lambda o: o.ret or 0)
    j = 0
    for i, o in sorted(enumerate(h.ops), key=lambda p: p[1].call):
        while j < len(done) and (done[j].ret or 0) < o.call:
            last.setdefault(done[j].key or 0, []).append(done[j])
            j += 1
        w = last.get(o.key or 0, [])
        if (o.kind == "get" and o.status == "found" and len(w) >= 2 and w[-2].arg is not None
                and (w[-2].ret or 0) < w[-1].call):
            o.out = w[-2].arg
            return i
    raise ValueError("no get to turn into a stale read")


def write(path: str, h: History) -> None:
    with open(path, "w") as fh:
        for line in history_lines(h):
            fh.write(line)
            fh.write("\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dir")
    ap.add_argument("--only", choices=sorted(ROWS), action="append")
    ap.add_argument("--stale", action="store_true", help="also write a stale-read copy of each")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    os.makedirs(args.dir, exist_ok=True)
    for name in args.only or ROWS:
        shape = ROWS[name]
        h = synthetic_history(seed=args.seed, **shape)
        write(os.path.join(args.dir, f"{name}.jsonl"), h)
        if args.stale:
            i = inject_stale_read(h)
            write(os.path.join(args.dir, f"{name}-stale.jsonl"), h)
            print(f"{name}: stale read at line {i + 1}")
        print(f"{name}: {len(h.ops)} operations written")


if __name__ == "__main__":
    main()
