"""Reading the files users hand to the CLI: schedules, reproducers and raw fuzz bytes.

``load_input`` tells them apart by content and name: a JSON object with a ``format``
of ``mapfuzz-schedule/1`` or ``mapfuzz-reproducer/1`` is a schedule or a reproducer;
a raw fuzz input (``harness.data.fuzz_input``: a scheduler seed, then the schedule's
byte form, which always decodes) is taken only from a file named the way libFuzzer
names its files (``crash-*``, ``leak-*``, ``timeout-*``, ``oom-*``, ``slow-unit-*``,
or a 40-hex SHA-1 corpus name), or when the caller says so (``raw=True``, the
``--raw`` flag). Anything else (a README, an empty or corrupt ``*.json``, a JSON
list, JSON of another format) is an ``InputError`` naming the file and what was
expected, never silently decoded as raw bytes. A raw input that starts with ``{``
is still a raw input.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from harness.data.fuzz_input import split_input
from harness.data.schedule import MapConfig, Schedule, ScheduleError, from_json
from harness.run import reproducer
from harness.run.reproducer import Reproducer, ReproducerError

RAW_NAME = re.compile(r"^(?:(?:crash|leak|timeout|oom|slow-unit|mismatch)-[^./]+|[0-9a-f]{40})$")
"""File names libFuzzer gives raw inputs: findings (crash-<sha1>, ...) and corpus entries
(the SHA-1 of the content). cmin keeps those names for the raw inputs it writes."""

EXPECTED = (
    "expected a mapfuzz schedule or reproducer (a JSON object with \"format\": "
    f"\"mapfuzz-schedule/1\" or \"{reproducer.FORMAT}\"), or a raw fuzz input named like "
    "libFuzzer's (crash-*, a 40-hex corpus name; or pass --raw)"
)


class InputError(ValueError):
    """A file the CLI cannot use; the message names the file and what to do."""


@dataclass(frozen=True, slots=True)
class LoadedInput:
    kind: str  # "schedule" | "reproducer" | "bytes"
    schedule: Schedule
    reproducer: Reproducer | None = None
    seed: int | None = None
    """The scheduler seed a raw fuzz input carries (None for JSON files)."""


def is_raw_name(path: Path) -> bool:
    """True for a name libFuzzer gives a raw input (see RAW_NAME)."""
    return RAW_NAME.match(path.name) is not None


def _json_kind(obj: object) -> str:
    return {list: "a JSON list", str: "a JSON string", type(None): "JSON null"}.get(
        type(obj), f"a JSON {type(obj).__name__}"
    )


def load_input(path: Path, config: MapConfig | None = None, *, raw: bool = False) -> LoadedInput:
    """``config`` gives a raw input's target and variant (raw bytes do not hold them);
    ``raw`` reads any file as a raw fuzz input."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror})") from exc
    if raw or (is_raw_name(path) and path.suffix != ".json"):
        if not raw and data.lstrip()[:1] == b"{":
            try:  # a reproducer saved under a libFuzzer-style name still reads as one
                obj = json.loads(data)
            except (json.JSONDecodeError, UnicodeDecodeError):
                obj = None
            if isinstance(obj, dict) and "format" in obj:
                return _from_object(path, obj)
        seed, schedule = split_input(data, config)
        return LoadedInput("bytes", schedule, seed=seed)
    if not data.strip():
        raise InputError(f"{path}: empty file; {EXPECTED}")
    try:
        obj = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        if path.suffix == ".json":
            raise InputError(
                f"{path}: not valid JSON ({exc}); fix or restore the file (a raw fuzz "
                "input must not be named *.json)"
            ) from exc
        raise InputError(f"{path}: not JSON and not named like a raw fuzz input; {EXPECTED}") \
            from None
    if not isinstance(obj, dict):
        raise InputError(f"{path}: {_json_kind(obj)}, not an object; {EXPECTED}")
    return _from_object(path, obj)


def _from_object(path: Path, obj: dict[str, object]) -> LoadedInput:
    fmt = obj.get("format")
    try:
        if fmt == reproducer.FORMAT:
            r = reproducer.from_json_obj(obj, str(path))
            return LoadedInput("reproducer", r.schedule, r)
        if isinstance(fmt, str) and fmt.startswith("mapfuzz-schedule/"):
            return LoadedInput("schedule", from_json(obj))
    except ReproducerError as exc:
        raise InputError(str(exc)) from exc
    except ScheduleError as exc:
        raise InputError(f"{path}: {exc}") from exc
    raise InputError(
        f"{path}: JSON with format {fmt!r}; expected 'mapfuzz-schedule/1' or "
        f"'{reproducer.FORMAT}'"
    )
