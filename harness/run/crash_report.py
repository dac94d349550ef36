"""What a dead worker printed: the line that says why the target died.

A target that kills the worker process usually says why on stderr first: Go's
runtime prints ``fatal error: concurrent map writes`` (or a ``panic:``) and then the
failing goroutine's stack; glibc prints ``free(): invalid pointer``; an assertion
names its file and line. The worker's stderr goes to a file (harness.run.worker);
``summarize`` turns its text into the clause a crash finding's explanation carries.
"""

from __future__ import annotations

import re

__all__ = ["summarize"]

MAX_CLAUSE = 240
"""Characters of a non-Go stderr line kept in an explanation."""

_GO_FATAL = re.compile(r"^(fatal error: .+|panic: .+|unexpected fault address .+)$", re.M)
_GO_GOROUTINE = re.compile(r"^goroutine \d+ \[[^\]]*\]:$", re.M)
_GO_FRAME = re.compile(r"^(\S.*)\([^()]*\)\n\t(\S+)(?: .*)?$", re.M)
"""A frame: ``func(args)`` then a tab, ``file:line`` and maybe ``+0x...`` offsets."""


def _go_frame(text: str, start: int) -> str | None:
    """The first frame after ``start`` outside Go's runtime: "func (file:line)"."""
    head = _GO_GOROUTINE.search(text, start)
    if head is None:
        return None
    for m in _GO_FRAME.finditer(text, head.end() + 1):
        func, where = m.group(1), m.group(2)
        if func.startswith("goroutine "):
            return None  # the next goroutine's block: this one had only runtime frames
        if not func.startswith("runtime."):
            return f"{func} ({where})"
    return None


def summarize(text: str) -> str | None:
    """One clause saying why the process died, or None when stderr says nothing.

    Go: ``Go: fatal error: concurrent map writes at main.(*gomap).op
    (mapfuzz/goadapters/gomap.go:109)``. Otherwise the last non-empty line.
    """
    fatal = _GO_FATAL.search(text)
    if fatal is not None:
        frame = _go_frame(text, fatal.end())
        return f"Go: {fatal.group(1)}" + (f" at {frame}" if frame else "")
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        return None
    last = lines[-1]
    return "stderr: " + (last if len(last) <= MAX_CLAUSE else last[:MAX_CLAUSE] + "...")
