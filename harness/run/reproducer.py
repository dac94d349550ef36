"""Reproducer files: everything needed to replay one finding.

Grammar (JSON object, keys in this order when written)::

    {
      "format": "mapfuzz-reproducer/1",
      "target": {"name": str, "path": str | null, "abi_version": int},
      "mode": "controlled" | "stress",
      "strategy": "pct" | "random",
      "seed": int,                     scheduler seed (controlled) / noise seed (stress)
      "pct_depth": int,
      "noise": float,                  stress noise probability
      "trace": [step, thread, ...],    controlled: the decision trace; stress: []
      "trace_hash": str | null,        "0x..." (controlled)
      "schedule": {...},               a "mapfuzz-schedule/1" object
      "verdict": {"status": str, "violations": [{"class", "key", "ops", "explanation"}]},
      "found": {...},                  how it was found (engine, execs, seconds), informative
      "history": {...}                 optional (stress findings): the recorded history, a
                                       "mapfuzz-history/1" object (harness.data.history_json)
    }

Files are named ``<class>-<sha256 of the content, 12 hex>.json`` and are never
overwritten: writing the same content twice yields the same name; a different
content never lands on an existing name.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.data.history_json import HistoryJSONError, history_from_json
from harness.data.schedule import Schedule, ScheduleError, from_json, to_json
from harness.oracle import Violation
from harness.run.execute import RunSpec
from harness.run.target import Target

FORMAT = "mapfuzz-reproducer/1"


class ReproducerError(ValueError):
    """A reproducer file that cannot be read; the message names the file and the field."""


@dataclass(frozen=True, slots=True)
class Reproducer:
    target_name: str
    target_path: str | None
    abi_version: int
    spec: RunSpec
    schedule: Schedule
    trace: tuple[int, ...]
    trace_hash: int | None
    violations: tuple[Violation, ...]
    found: dict[str, Any] = field(default_factory=dict)
    history: dict[str, Any] | None = None
    """Stress findings: the history the finding was judged on (a stress replay need not
    show that interleaving again); the violations' op indices point into it."""

    @property
    def target_spec(self) -> str:
        """How to load the target: its recorded path, or its name where the path is gone
        and the name is one mapfuzz resolves (evacmap, an adapter built elsewhere)."""
        if self.target_path is None:
            return self.target_name
        if os.path.exists(self.target_path) or not Target.is_named(self.target_name):
            return self.target_path
        return self.target_name

    @property
    def main_class(self) -> str:
        return self.violations[0].cls if self.violations else "none"

    def replay_spec(self) -> RunSpec:
        """Controlled: follow the recorded decisions exactly. Stress: the same seed and noise."""
        if self.spec.mode == "controlled" and self.trace:
            return RunSpec(
                mode="controlled",
                strategy=self.spec.strategy,
                seed=self.spec.seed,
                pct_depth=self.spec.pct_depth,
                replay=self.trace,
                step_bound=self.spec.step_bound,
            )
        return self.spec


def violation_json(v: Violation) -> dict[str, Any]:
    return {"class": v.cls, "key": v.key, "ops": list(v.ops), "explanation": v.explanation}


def to_json_obj(r: Reproducer) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "target": {"name": r.target_name, "path": r.target_path, "abi_version": r.abi_version},
        "mode": r.spec.mode,
        "strategy": r.spec.strategy,
        "seed": r.spec.seed,
        "pct_depth": r.spec.pct_depth,
        "noise": r.spec.noise,
        "step_bound": r.spec.step_bound,
        "trace": list(r.trace),
        "trace_hash": None if r.trace_hash is None else f"0x{r.trace_hash:016x}",
        "schedule": to_json(r.schedule),
        "verdict": {
            "status": "violation" if r.violations else "ok",
            "violations": [violation_json(v) for v in r.violations],
        },
        "found": r.found,
        **({"history": r.history} if r.history is not None else {}),
    }


def _need(obj: dict[str, Any], name: str, kind: type | tuple[type, ...], where: str) -> Any:
    if name not in obj:
        raise ReproducerError(f"{where}: missing field {name!r}")
    value = obj[name]
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is int):
        raise ReproducerError(f"{where}: field {name!r} = {value!r} has the wrong type")
    return value


def from_json_obj(obj: Any, where: str = "reproducer") -> Reproducer:
    if not isinstance(obj, dict):
        raise ReproducerError(f"{where}: not a JSON object")
    fmt = obj.get("format")
    if fmt != FORMAT:
        raise ReproducerError(f"{where}: format is {fmt!r}, expected {FORMAT!r}")
    target = _need(obj, "target", dict, where)
    mode = _need(obj, "mode", str, where)
    if mode not in ("controlled", "stress"):
        raise ReproducerError(f"{where}: mode {mode!r} is not 'controlled' or 'stress'")
    trace = _need(obj, "trace", list, where)
    if not all(isinstance(x, int) and x >= 0 for x in trace) or len(trace) % 2:
        raise ReproducerError(f"{where}: 'trace' must be an even-length list of non-negative ints")
    trace_hash = obj.get("trace_hash")
    try:
        schedule = from_json(_need(obj, "schedule", dict, where))
    except ScheduleError as exc:
        raise ReproducerError(f"{where}: schedule: {exc}") from exc
    verdict = obj.get("verdict") or {}
    violations = tuple(
        Violation(
            cls=str(v.get("class")),
            key=v.get("key"),
            ops=tuple(int(o) for o in v.get("ops", [])),
            explanation=str(v.get("explanation", "")),
        )
        for v in verdict.get("violations", [])
        if isinstance(v, dict)
    )
    spec = RunSpec(
        mode=mode,
        strategy=str(obj.get("strategy", "pct")),
        seed=int(_need(obj, "seed", int, where)),
        pct_depth=int(obj.get("pct_depth", 3)),
        noise=float(obj.get("noise", 0.0)),
        step_bound=int(obj.get("step_bound", 0)),
    )
    return Reproducer(
        target_name=str(target.get("name", "evacmap")),
        target_path=target.get("path"),
        abi_version=int(target.get("abi_version", 1)),
        spec=spec,
        schedule=schedule,
        trace=tuple(trace),
        trace_hash=int(trace_hash, 16) if isinstance(trace_hash, str) else None,
        violations=violations,
        found=dict(obj.get("found") or {}),
        history=_history(obj.get("history"), where),
    )


def _history(obj: Any, where: str) -> dict[str, Any] | None:
    if obj is None:
        return None
    try:
        history_from_json(obj)
    except HistoryJSONError as exc:
        raise ReproducerError(f"{where}: {exc}") from exc
    return dict(obj)


def load(path: Path) -> Reproducer:
    try:
        text = path.read_text()
    except OSError as exc:
        raise ReproducerError(f"{path}: cannot read: {exc.strerror}") from exc
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ReproducerError(f"{path}: not JSON (line {exc.lineno}: {exc.msg})") from exc
    return from_json_obj(obj, str(path))


def save(r: Reproducer, directory: Path) -> Path:
    """Write under a content-hash name; never overwrite different content."""
    text = json.dumps(to_json_obj(r), indent=1) + "\n"
    digest = hashlib.sha256(text.encode()).hexdigest()[:12]
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{r.main_class}-{digest}.json"
    if path.exists():
        if path.read_text() == text:
            return path
        raise ReproducerError(f"{path} exists with other content; refusing to overwrite it")
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(text)
    tmp.rename(path)
    return path


FALLBACK_ENV = "MAPFUZZ_FALLBACK_DIR"
"""Where a reproducer goes when its directory cannot take it (default: mapfuzz-findings
in the system's temporary directory)."""


def fallback_dir() -> Path:
    return Path(os.environ.get(FALLBACK_ENV) or Path(tempfile.gettempdir()) / "mapfuzz-findings")


def output_dir_problem(directory: Path) -> str | None:
    """Why files cannot be written under ``directory`` (None: they can), checked before
    any work starts. A missing directory is fine when it can be created: its nearest
    existing ancestor must be a writable directory."""
    p = directory
    while not p.exists() and p.parent != p:
        p = p.parent
    if not p.is_dir():
        return f"{p} is a file, not a directory" if p.is_file() else f"{p} is not a directory"
    if not os.access(p, os.W_OK | os.X_OK):
        return f"{p} is not writable"
    return None


@dataclass(frozen=True, slots=True)
class Saved:
    """Where a reproducer was written: ``path`` (None: nowhere, see ``text``), and why
    the directory asked for could not take it (``problem``, None when it did)."""

    path: Path | None
    problem: str | None
    text: str


def _why(exc: Exception) -> str:
    if isinstance(exc, OSError):
        where = f"{exc.filename}: " if exc.filename else ""
        return f"{where}{exc.strerror or exc}"
    return str(exc)


def save_safely(r: Reproducer, directory: Path) -> Saved:
    """``save``, but a write that fails (disk full, a directory that went away, an
    existing file with other content) never loses the finding: the reproducer goes to
    ``fallback_dir()`` instead, and if that fails too, ``text`` still holds it."""
    text = json.dumps(to_json_obj(r), indent=1) + "\n"
    try:
        return Saved(save(r, directory), None, text)
    except (OSError, ReproducerError) as exc:
        problem = f"cannot write to {directory}: {_why(exc)}"
    try:
        return Saved(save(r, fallback_dir()), problem, text)
    except (OSError, ReproducerError) as exc:
        return Saved(None, f"{problem}; nor to {fallback_dir()}: {_why(exc)}", text)
