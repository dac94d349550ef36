"""Reading the files users hand to the CLI: schedules, reproducers and raw fuzz bytes.

``load_input`` tells them apart by content: a JSON object with a ``format`` of
``mapfuzz-schedule/1`` or ``mapfuzz-reproducer/1``; anything else is raw fuzzer
bytes, which always decode into a schedule (the byte decoder is total).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from harness import reproducer
from harness.reproducer import Reproducer, ReproducerError
from harness.schedule import Schedule, ScheduleError, decode_bytes, from_json


class InputError(ValueError):
    """A file the CLI cannot use; the message names the file and what to do."""


@dataclass(frozen=True, slots=True)
class LoadedInput:
    kind: str  # "schedule" | "reproducer" | "bytes"
    schedule: Schedule
    reproducer: Reproducer | None = None


def load_input(path: Path) -> LoadedInput:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror})") from exc
    obj = None
    if data.lstrip()[:1] == b"{":
        try:
            obj = json.loads(data)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise InputError(
                f"{path}: looks like JSON but does not parse ({exc}); fix the file, "
                "or pass raw fuzz bytes in a file that does not start with '{'"
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
    return LoadedInput("bytes", decode_bytes(data))
