"""Reading the files users hand to the CLI: schedules, reproducers and raw fuzz bytes.

``load_input`` tells them apart by content: a JSON object with a ``format`` of
``mapfuzz-schedule/1`` or ``mapfuzz-reproducer/1``; anything else is a raw fuzz
input (``harness.data.fuzz_input``: a scheduler seed, then the schedule's byte form),
which always decodes (the decoder is total). A file named ``*.json`` must be JSON:
a corrupt one is an error, never silently read as raw bytes. A raw input that
merely starts with ``{`` is still a raw input.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from harness.data.fuzz_input import split_input
from harness.data.schedule import MapConfig, Schedule, ScheduleError, from_json
from harness.run import reproducer
from harness.run.reproducer import Reproducer, ReproducerError


class InputError(ValueError):
    """A file the CLI cannot use; the message names the file and what to do."""


@dataclass(frozen=True, slots=True)
class LoadedInput:
    kind: str  # "schedule" | "reproducer" | "bytes"
    schedule: Schedule
    reproducer: Reproducer | None = None
    seed: int | None = None
    """The scheduler seed a raw fuzz input carries (None for JSON files)."""


def load_input(path: Path, config: MapConfig | None = None) -> LoadedInput:
    """``config`` gives a raw input's target and variant (raw bytes do not hold them)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror})") from exc
    obj = None
    if data.lstrip()[:1] == b"{":
        try:
            obj = json.loads(data)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            if path.suffix == ".json":
                raise InputError(
                    f"{path}: not valid JSON ({exc}); fix or restore the file (a raw fuzz "
                    "input must not be named *.json)"
                ) from exc
    if isinstance(obj, dict):
        fmt = obj.get("format")
        try:
            if fmt == reproducer.FORMAT:
                r = reproducer.from_json_obj(obj, str(path))
                return LoadedInput("reproducer", r.schedule, r)
            if isinstance(fmt, str) and fmt.startswith("mapfuzz-schedule/"):
                return LoadedInput("schedule", from_json(obj))
        except (ReproducerError, ScheduleError) as exc:
            raise InputError(f"{path}: {exc}") from exc
        raise InputError(
            f"{path}: JSON with format {fmt!r}; expected 'mapfuzz-schedule/1' or "
            f"'{reproducer.FORMAT}'"
        )
    seed, schedule = split_input(data, config)
    return LoadedInput("bytes", schedule, seed=seed)
