"""cmin: the fewest inputs of a corpus that keep every feature it reaches.

Features of an input (all deterministic, so the same corpus always minimises to
the same set):

* interleaving coverage: every non-zero counter of ``Runner.coverage()`` after one
  controlled run, as (counter, count bucket) pairs, with libFuzzer's buckets
  (1, 2, 3, 4-7, 8-15, 16-31, 32-127, 128+), so "hit once" and "hit 40 times"
  are different features;
* the verdict: one feature per violation class the run shows.

The controlled run is the reproducer's recorded trace when the input is a
controlled reproducer, else PCT (depth 3) with scheduler seed ``seed``.

Selection is a greedy set cover (the input adding the most uncovered features
first; ties go to the smaller file, then the lower content hash), followed by a
redundancy sweep: a kept input whose every feature another kept input also has is
dropped (latest pick first). Every kept input therefore owns a feature no other
kept input has, which makes cmin idempotent: minimising its own output keeps all
of it.

Code coverage of the target is not a feature here: it needs a sanitizer-coverage
build, which the native runner does not have (libFuzzer's ``-set_cover_merge``
through the atheris front end covers that case: ``libfuzzer_merge``).

An input is JSON (a schedule or reproducer) when it is named ``*.json`` or parses as
a JSON object; a raw fuzz input when it is named the way libFuzzer names its files
(``crash-*``, a 40-hex corpus name: ``harness.run.inputs.RAW_NAME``), or any other
file with ``raw=True`` (``--raw``), even when it starts with ``{`` (its 8-byte
scheduler seed may); it keeps a name without ``.json``. Any other file (a README, a
note) is skipped and reported, never copied into the output.
"""

from __future__ import annotations

import hashlib
import heapq
import json
import os
import re
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from harness.data.fuzz_input import split_input
from harness.data.plan import compile_schedule
from harness.data.schedule import MapConfig, ScheduleError
from harness.frontends.atheris_driver import atheris_available
from harness.oracle import CLASSES
from harness.run.execute import ExecutionSetupError, RunSpec, execute
from harness.run.inputs import InputError, LoadedInput, is_raw_name, load_input
from harness.run.runner import COV_SIZE, Runner
from harness.run.target import Target, TargetError
from harness.run.trust import check_named_targets

_BUCKETS = (0, 1, 2, 3, 4, 4, 4, 4) + (5,) * 8 + (6,) * 16 + (7,) * 96 + (8,) * 128
"""Count -> bucket (1..8) for counts 0..255; 0 never occurs (zero counters are skipped)."""
CLASS_FEATURE_BASE = COV_SIZE * 8


class CminError(ValueError):
    """The command cannot run as asked (bad output directory, no inputs); says what to do."""


@dataclass(frozen=True, slots=True)
class Item:
    path: Path
    data: bytes
    digest: str
    """SHA-1 of the content (the output file name, as libFuzzer names corpus files)."""
    kind: str


@dataclass(slots=True)
class CminResult:
    inputs: int
    input_bytes: int
    unique: int
    kept: list[Item]
    features: int
    kept_features: int
    skipped: list[tuple[Path, str]] = field(default_factory=list)
    engine: str = "native"
    failing: list[Item] = field(default_factory=list)
    """libfuzzer engine: inputs that fail on the target (a finding, a crash, a hang);
    libFuzzer leaves them out of its merge, cmin keeps them (they are in ``kept``)."""
    merge_log: list[str] = field(default_factory=list)

    @property
    def kept_bytes(self) -> int:
        return sum(len(i.data) for i in self.kept)


def collect(
    paths: Sequence[Path], raw: bool = False
) -> tuple[list[Item], list[tuple[Path, str]], int, int]:
    """Files directly inside each directory (or the files named), read once; files that
    are no input (see the module docstring) are skipped.
    Returns (unique items, skipped, file count, total bytes)."""
    files: list[Path] = []
    for p in paths:
        if p.is_dir():
            files.extend(sorted(f for f in p.iterdir() if f.is_file() and
                                not f.name.startswith(".")))
        elif p.is_file():
            files.append(p)
        else:
            raise CminError(f"{p}: no such file or directory")
    items: dict[str, Item] = {}
    skipped: list[tuple[Path, str]] = []
    total = 0
    for f in files:
        try:
            data = f.read_bytes()
        except OSError as exc:
            skipped.append((f, f"cannot read ({exc.strerror})"))
            continue
        total += len(data)
        kind = _kind(f, data, raw)
        if kind is None:
            skipped.append((f, "not a fuzz input (JSON schedules and reproducers, and raw "
                               "inputs named like libFuzzer's: crash-*, 40-hex names; "
                               "--raw takes every file)"))
            continue
        digest = hashlib.sha1(data).hexdigest()
        if digest not in items:
            items[digest] = Item(f, data, digest, kind)
    return sorted(items.values(), key=lambda i: i.digest), skipped, len(files), total


def _kind(path: Path, data: bytes, raw: bool) -> str | None:
    """"json" for a ``*.json`` file or a JSON object, "bytes" for a raw input (a
    libFuzzer-style name, or any file with ``raw``), None for a file that is no input."""
    if raw:
        return "bytes"
    if path.suffix == ".json":
        return "json"
    if data.lstrip()[:1] == b"{":
        try:
            if isinstance(json.loads(data), dict):
                return "json"
        except ValueError:  # JSONDecodeError and UnicodeDecodeError
            pass
    return "bytes" if is_raw_name(path) else None


class FeatureRunner:
    """Computes an input's features; one Runner per target, reused."""

    def __init__(self, config: MapConfig, seed: int = 0) -> None:
        self.config = config
        self.seed = seed
        self._runners: dict[str, tuple[Target, Runner]] = {}

    def _runner(self, spec: str) -> tuple[Target, Runner]:
        hit = self._runners.get(spec)
        if hit is None:
            target = Target.load(spec)
            hit = self._runners[spec] = (target, Runner(target))
        return hit

    def load(self, item: Item) -> LoadedInput:
        if item.kind == "bytes":
            seed, schedule = split_input(item.data, self.config)
            return LoadedInput("bytes", schedule, seed=seed)
        return load_input(item.path, self.config)

    def features(self, item: Item) -> frozenset[int]:
        loaded = self.load(item)
        if item.kind == "json":
            hint = check_named_targets(item.path, loaded, "cmin", [self.config.target])
            if hint:
                raise InputError(hint)
        r = loaded.reproducer
        target, runner = self._runner(r.target_spec if r else loaded.schedule.config.target)
        if r is not None and r.spec.mode == "controlled" and r.trace:
            spec = r.replay_spec()
        else:
            seed = loaded.seed if loaded.seed is not None else self.seed
            spec = RunSpec(mode="controlled", strategy="pct", seed=seed, pct_depth=3)
        plan = compile_schedule(loaded.schedule, target.variants)
        outcome = execute(runner, target, plan, spec)
        cov = runner.coverage()
        feats = {i * 8 + _BUCKETS[c] for i, c in enumerate(cov) if c}
        for v in outcome.violations:
            cls = CLASSES.index(v.cls) if v.cls in CLASSES else len(CLASSES)
            feats.add(CLASS_FEATURE_BASE + cls)
        return frozenset(feats)

    def close(self) -> None:
        for _, runner in self._runners.values():
            runner.close()


def set_cover(items: Sequence[Item], feats: Sequence[frozenset[int]]) -> list[int]:
    """Indices of a small irredundant subset of ``items`` covering every feature."""
    covered: set[int] = set()
    # lazy greedy: gains only shrink, so a stale gain is an upper bound
    heap = [(-len(f), len(items[i].data), items[i].digest, i) for i, f in enumerate(feats)]
    heapq.heapify(heap)
    chosen: list[int] = []
    while heap:
        neg, size, digest, i = heapq.heappop(heap)
        gain = len(feats[i] - covered)
        if gain == 0:
            continue
        if gain < -neg:
            heapq.heappush(heap, (-gain, size, digest, i))
            continue
        chosen.append(i)
        covered |= feats[i]
    count: Counter[int] = Counter()
    for i in chosen:
        count.update(feats[i])
    kept = list(chosen)
    for i in reversed(chosen):
        if all(count[f] > 1 for f in feats[i]):
            kept.remove(i)
            count.subtract(feats[i])
    return kept


def minimise_corpus(
    paths: Sequence[Path], config: MapConfig, *, seed: int = 0, raw: bool = False
) -> CminResult:
    items, skipped, nfiles, nbytes = collect(paths, raw)
    fr = FeatureRunner(config, seed)
    good: list[Item] = []
    feats: list[frozenset[int]] = []
    try:
        for item in items:
            try:
                f = fr.features(item)
            except (InputError, ScheduleError, ExecutionSetupError, TargetError, ValueError) as exc:
                skipped.append((item.path, str(exc).splitlines()[0]))
                continue
            good.append(item)
            feats.append(f)
    finally:
        fr.close()
    chosen = set_cover(good, feats)
    all_feats: set[int] = set().union(*feats) if feats else set()
    kept_feats: set[int] = set().union(*(feats[i] for i in chosen)) if chosen else set()
    kept = sorted((good[i] for i in chosen), key=lambda it: it.digest)
    return CminResult(
        inputs=nfiles,
        input_bytes=nbytes,
        unique=len(items),
        kept=kept,
        features=len(all_feats),
        kept_features=len(kept_feats),
        skipped=skipped,
    )


def output_name(item: Item) -> str:
    return item.digest + (".json" if item.kind == "json" else "")


def check_output(out: Path, inputs: Sequence[Path]) -> None:
    """Refuse an output directory no result could be written to (an input directory,
    or a file), before any work is done."""
    resolved = out.resolve()
    for p in inputs:
        if p.is_dir() and p.resolve() == resolved:
            raise CminError(f"{out} is also an input directory; input directories are never "
                            "modified: pass a new directory to -o")
    if out.exists() and not out.is_dir():
        raise CminError(f"{out} exists and is not a directory; pass a new directory to -o")


def write_output(kept: Iterable[Item], out: Path, inputs: Sequence[Path]) -> str:
    """Write ``kept`` into ``out`` under content-hash names. ``out`` must be new, empty,
    or already hold exactly this result (then nothing changes: "unchanged")."""
    kept = list(kept)
    names = {output_name(i): i for i in kept}
    check_output(out, inputs)
    if out.exists():
        present = {f.name for f in out.iterdir()}
        if present == set(names) and all(
            (out / n).read_bytes() == names[n].data for n in present
        ):
            return "unchanged"
        if present:
            raise CminError(f"{out} is not empty and holds another corpus; pass a new or empty "
                            "directory to -o (cmin never deletes files)")
    out.mkdir(parents=True, exist_ok=True)
    for name, item in sorted(names.items()):
        tmp = out / f".{name}.tmp"
        tmp.write_bytes(item.data)
        tmp.rename(out / name)
    return "written"


# ---- the libfuzzer engine --------------------------------------------------------

_MERGE_ADDED = re.compile(r"MERGE-OUTER: (\d+) new files with (\d+) new features added")
_FAILURE_PREFIXES = ("crash-", "timeout-", "oom-", "leak-")


class MergeError(RuntimeError):
    """libFuzzer's merge itself failed (not an input: those are kept as failing)."""


def libfuzzer_merge(paths: Sequence[Path], config: MapConfig, raw: bool = False) -> CminResult:
    """libFuzzer's ``-set_cover_merge=1`` over the raw fuzz inputs of ``paths``, through
    the atheris front end on ``config``'s target and variant (its features: the
    interleaving counters, plus code coverage when the target has any).

    The distinct raw inputs are staged in a temporary directory (so the inputs are the
    ones ``minimise_corpus`` reads: files directly inside each directory, no dot
    files, duplicates once); JSON schedules and reproducers are skipped (the front end
    reads raw inputs only). libFuzzer runs with its working directory, artifact prefix
    and the harness's reproducer directory in that temporary directory, so nothing is
    written anywhere else; an input that fails on the target (libFuzzer leaves it out
    of the merge and writes ``crash-<sha1>``) is kept, in ``failing``."""
    if not atheris_available():
        raise CminError("--engine libfuzzer needs atheris (pip install -e '.[fuzz]'); "
                        "or use the native engine")
    items, skipped, nfiles, nbytes = collect(paths, raw)
    raw_items = [i for i in items if i.kind == "bytes"]
    skipped += [(i.path, "JSON (a schedule, a reproducer or a *.json file): the libfuzzer "
                 "engine reads raw fuzz inputs only (use --engine native)")
                for i in items if i.kind != "bytes"]
    by_digest = {i.digest: i for i in raw_items}
    kept: list[Item] = []
    failing: list[Item] = []
    merge_log: list[str] = []
    features = 0
    if raw_items:
        with tempfile.TemporaryDirectory(prefix="mapfuzz-cmin-") as tmp:
            staged, merged, art = (Path(tmp) / d for d in ("in", "out", "artifacts"))
            for d in (staged, merged, art):
                d.mkdir()
            for i in raw_items:
                (staged / i.digest).write_bytes(i.data)
            stderr = _run_merge(config, staged, merged, art, max(len(i.data) for i in raw_items))
            merge_log = [ln for ln in stderr.splitlines() if ln.startswith("MERGE-OUTER")]
            added = [_MERGE_ADDED.search(ln) for ln in merge_log]
            features = next((int(m.group(2)) for m in added if m), 0)
            kept = _items_in(merged, by_digest, lambda n: True)
            failing = _items_in(art, by_digest, lambda n: n.startswith(_FAILURE_PREFIXES))
    kept_digests = {i.digest for i in kept}
    kept += [i for i in failing if i.digest not in kept_digests]
    return CminResult(
        inputs=nfiles,
        input_bytes=nbytes,
        unique=len(items),
        kept=sorted(kept, key=lambda it: it.digest),
        # set-cover merge keeps every feature of the inputs it ran (libFuzzer's count)
        features=features,
        kept_features=features,
        skipped=skipped,
        engine="libfuzzer",
        failing=sorted(failing, key=lambda it: it.digest),
        merge_log=merge_log,
    )


def _run_merge(config: MapConfig, staged: Path, merged: Path, art: Path, max_len: int) -> str:
    """Run the merge; its stderr. The child imports this very ``harness`` package."""
    package_root = str(Path(__file__).resolve().parent.parent)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
    argv = [
        sys.executable, "-m", "harness.frontends.atheris_target",
        f"--target={config.target}",
        *([f"--variant={config.variant}"] if config.variant else []),
        f"--artifacts={art}",
        f"-artifact_prefix={art}{os.sep}",
        f"-max_len={max(max_len, 1)}",  # else libFuzzer cuts inputs over 1 MB
        "-set_cover_merge=1",
        str(merged),
        str(staged),
    ]
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=staged.parent,
                          stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        lines = proc.stderr.strip().splitlines()
        raise MergeError(f"libFuzzer merge failed (exit {proc.returncode})"
                         + (f": {lines[-1]}" if lines else ""))
    return proc.stderr


def _items_in(d: Path, by_digest: dict[str, Item], wanted: Callable[[str], bool]) -> list[Item]:
    """The staged inputs whose content a file of ``d`` holds (libFuzzer names its
    outputs by content, but the content is what counts)."""
    found: dict[str, Item] = {}
    for f in d.iterdir():
        if f.is_file() and wanted(f.name):
            digest = hashlib.sha1(f.read_bytes()).hexdigest()
            if digest not in by_digest:
                raise MergeError(f"libFuzzer wrote {f.name}, which is none of the inputs")
            found[digest] = by_digest[digest]
    return list(found.values())


__all__ = [
    "CminError",
    "CminResult",
    "Item",
    "MergeError",
    "check_output",
    "libfuzzer_merge",
    "minimise_corpus",
    "set_cover",
    "write_output",
]
