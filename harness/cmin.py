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
through the atheris front end covers that case).
"""

from __future__ import annotations

import hashlib
import heapq
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from harness.execute import ExecutionSetupError, RunSpec, execute
from harness.fuzz_input import split_input
from harness.inputs import InputError, LoadedInput, load_input
from harness.oracle import CLASSES
from harness.plan import compile_schedule
from harness.runner import COV_SIZE, Runner, Target, TargetError
from harness.schedule import MapConfig, ScheduleError

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

    @property
    def kept_bytes(self) -> int:
        return sum(len(i.data) for i in self.kept)


def collect(paths: Sequence[Path]) -> tuple[list[Item], list[tuple[Path, str]], int, int]:
    """Files directly inside each directory (or the files named), read once.
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
        digest = hashlib.sha1(data).hexdigest()
        if digest not in items:
            kind = "json" if data.lstrip()[:1] == b"{" else "bytes"
            items[digest] = Item(f, data, digest, kind)
    return sorted(items.values(), key=lambda i: i.digest), skipped, len(files), total


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
        return load_input(item.path)

    def features(self, item: Item) -> frozenset[int]:
        loaded = self.load(item)
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
    paths: Sequence[Path], config: MapConfig, *, seed: int = 0
) -> CminResult:
    items, skipped, nfiles, nbytes = collect(paths)
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


def write_output(kept: Iterable[Item], out: Path, inputs: Sequence[Path]) -> str:
    """Write ``kept`` into ``out`` under content-hash names. ``out`` must be new, empty,
    or already hold exactly this result (then nothing changes: "unchanged")."""
    kept = list(kept)
    names = {output_name(i): i for i in kept}
    resolved = out.resolve()
    for p in inputs:
        if p.is_dir() and p.resolve() == resolved:
            raise CminError(f"{out} is also an input directory; input directories are never "
                            "modified: pass a new directory to -o")
    if out.exists():
        if not out.is_dir():
            raise CminError(f"{out} exists and is not a directory; pass a new directory to -o")
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


__all__ = ["CminError", "CminResult", "Item", "minimise_corpus", "set_cover", "write_output"]
