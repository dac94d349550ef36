"""mapfuzz cmin on a corpus grown by the atheris front end: inputs, bytes and features
before and after, for both cmin engines.

    python bench/cmin_atheris.py                      # fresh corpus in a temp directory
    python bench/cmin_atheris.py --dir /tmp/cminrun   # keep the files (DIR must be new or empty)

1. Grow: ``fuzz/evacmap.py CORPUS fuzz/seeds/evacmap -seed=S -runs=R`` on the correct
   evacmap, in rounds (round k uses ``-seed=S+k``) until CORPUS holds ``--min-inputs``
   files or ``--max-time`` seconds have gone. One libFuzzer process with a fixed seed and
   run count on the deterministic controlled runner grows the same corpus every time.
2. Minimise: ``mapfuzz cmin CORPUS -o native --json``, then the same with
   ``--engine libfuzzer`` (skipped with --no-libfuzzer).
3. Check: the native features (``harness.tools.cmin``: interleaving counters with count
   buckets, plus verdict classes) of every input, unioned over the grown corpus and over
   each output; they must be equal.

Exit code 0: features kept by every engine run; 1: a feature was lost, or a step failed;
2: DIR not empty. Fewer inputs than --min-inputs after --max-time is reported, not an
error.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from harness.data.schedule import MapConfig  # noqa: E402
from harness.tools.cmin import FeatureRunner, collect  # noqa: E402

SEEDS = ROOT / "fuzz" / "seeds" / "evacmap"


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    return env


def _files(d: Path) -> list[Path]:
    return [f for f in d.iterdir() if f.is_file() and not f.name.startswith(".")]


def grow(work: Path, seed: int, runs: int, min_inputs: int, max_time: float) -> dict[str, object]:
    corpus, art = work / "corpus", work / "artifacts"
    corpus.mkdir()
    art.mkdir()
    start = time.monotonic()
    rounds: list[str] = []
    while True:
        flags = [f"-seed={seed + len(rounds)}", f"-runs={runs}"]
        argv = [sys.executable, str(ROOT / "fuzz" / "evacmap.py"), str(corpus), str(SEEDS),
                *flags, f"-artifact_prefix={art}{os.sep}", f"--artifacts={art}"]
        proc = subprocess.run(argv, capture_output=True, text=True, cwd=work, env=_env(),
                              stdin=subprocess.DEVNULL)
        rounds.append(" ".join(flags))
        (work / f"grow-{len(rounds)}.log").write_text(proc.stderr)
        if proc.returncode != 0:
            tail = proc.stderr.strip().splitlines()[-3:]
            sys.exit(f"atheris round {len(rounds)} failed (exit {proc.returncode}):\n"
                     + "\n".join(tail))
        n = len(_files(corpus))
        elapsed = time.monotonic() - start
        print(f"  round {len(rounds)} ({' '.join(flags)}): {n} inputs, {elapsed:.1f} s",
              flush=True)
        if n >= min_inputs or elapsed >= max_time:
            return {"corpus": corpus, "rounds": rounds, "seconds": elapsed, "inputs": n}


def cmin(corpus: Path, out: Path, engine: str) -> tuple[dict[str, object], float]:
    argv = [sys.executable, "-m", "harness", "cmin", str(corpus), "-o", str(out),
            "--engine", engine, "--json"]
    start = time.monotonic()
    proc = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT, env=_env())
    elapsed = time.monotonic() - start
    if proc.returncode != 0:
        sys.exit(f"mapfuzz cmin --engine {engine} failed (exit {proc.returncode}):\n"
                 + proc.stderr[-2000:])
    report: dict[str, object] = json.loads(proc.stdout)
    return report, elapsed


def features(d: Path, fr: FeatureRunner) -> set[int]:
    """Union of the native features of every input directly in ``d``."""
    items, skipped, _, _ = collect([d])
    if skipped:
        sys.exit(f"{d}: unreadable inputs: {skipped[:3]}")
    out: set[int] = set()
    for it in items:
        out |= fr.features(it)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dir", type=Path, help="work directory (new or empty); default: a temp one")
    ap.add_argument("--seed", type=int, default=1, help="libFuzzer -seed of the first round")
    ap.add_argument("--runs", type=int, default=5000, help="libFuzzer -runs per round")
    ap.add_argument("--min-inputs", type=int, default=1000)
    ap.add_argument("--max-time", type=float, default=600.0, help="growing stops after this")
    ap.add_argument("--no-libfuzzer", action="store_true", help="native engine only")
    args = ap.parse_args()
    if args.dir is not None:
        if args.dir.exists() and any(args.dir.iterdir()):
            print(f"{args.dir} is not empty; pass a new or empty directory", file=sys.stderr)
            return 2
        args.dir.mkdir(parents=True, exist_ok=True)
        work = args.dir
    else:
        work = Path(tempfile.mkdtemp(prefix="mapfuzz-cmin-bench-"))
    print(f"work directory: {work}")
    print(f"growing with fuzz/evacmap.py (correct evacmap), seeds {SEEDS.relative_to(ROOT)}")
    g = grow(work, args.seed, args.runs, args.min_inputs, args.max_time)
    corpus = Path(str(g["corpus"]))
    engines = ["native"] + ([] if args.no_libfuzzer else ["libfuzzer"])
    reports = {e: cmin(corpus, work / f"min-{e}", e) for e in engines}

    start = time.monotonic()
    fr = FeatureRunner(MapConfig())
    try:
        feats = {"corpus": features(corpus, fr)}
        feats.update({e: features(work / f"min-{e}", fr) for e in engines})
    finally:
        fr.close()
    check_s = time.monotonic() - start

    files = _files(corpus)
    rows = [("grown corpus", len(files), sum(f.stat().st_size for f in files),
             len(feats["corpus"]), float(str(g["seconds"])))]
    for e, (rep, secs) in reports.items():
        rows.append((f"cmin --engine {e}", int(str(rep["kept"])), int(str(rep["kept_bytes"])),
                     len(feats[e]), secs))
    print()
    print(f"grown in {len(g['rounds'])} round(s): {'; '.join(map(str, g['rounds']))}")
    if len(files) < args.min_inputs:
        print(f"NOTE: the corpus reached {len(files)} inputs, under --min-inputs "
              f"{args.min_inputs}, in --max-time {args.max_time:.0f} s")
    print(f"{'':22} {'inputs':>7} {'bytes':>9} {'features':>9} {'seconds':>8}")
    for name, n, b, f, s in rows:
        print(f"{name:22} {n:>7} {b:>9} {f:>9} {s:>8.1f}")
    for e, (rep, _) in reports.items():
        extra = f", {rep['failing']} failing" if "failing" in rep else ""
        print(f"  {e}: mapfuzz reports {rep['features']} features reached, "
              f"{rep['kept_features']} kept{extra}")
    print(f"native features of every input recomputed in {check_s:.1f} s")
    lost = {e: len(feats["corpus"] - feats[e]) for e in engines}
    extra_f = {e: len(feats[e] - feats["corpus"]) for e in engines}
    ok = all(feats[e] == feats["corpus"] for e in engines)
    for e in engines:
        print(f"  {e}: union of features of the output "
              + ("equals the corpus's" if feats[e] == feats["corpus"] else
                 f"differs: {lost[e]} lost, {extra_f[e]} not in the corpus"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
