"""Site names for targets built by ``mapfuzz cc``: code addresses -> ``file:line (function)``.

An instrumented target's schedule points are code addresses (the return address of
the hook call). This module finds every call site of the .so statically (objdump's
disassembly: the address after each ``call`` instruction, which is where a hook
returns to), symbolises the call instruction before each (the return address itself
may lie on the next line) in one ``addr2line`` run (DWARF line tables; inlined
frames are unwound to the innermost one outside the compiler's own headers, so a
``std::lock_guard`` site names the line of the map that took the lock), and hands
the table to the target's runtime (``mf_target_set_sites``). From then on the host
sees the symbolised string as the site: interleaving features, events, ``explain``
and reproducers carry ``authormap.c:214 (am_get)``, which stays the same when the
.so is rebuilt from the same code. Sites the table lacks keep the runtime's
``<library>+0x<offset>`` form.

Tables are cached per .so content (sha256) in the user cache next to the adapters.
binutils (objdump, addr2line) is required; without it sites stay unsymbolised.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from harness.run.adapters import cache_dir
from harness.run.binding import ffi, lib

__all__ = ["call_sites", "install", "site_table", "symbolise"]

_INSN = re.compile(r"^\s*([0-9a-f]+):\s+(\S+)")
_SYSTEM_HEADERS = ("/usr/include/c++/", "/usr/lib/gcc/", "/bits/", "/ext/")
"""Frames in these files are the compiler's library, not the map: skipped when an
inlined frame further out names the map's own line."""


def _run(cmd: list[str], stdin: str | None = None) -> str | None:
    try:
        res = subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=300,
                             check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return res.stdout if res.returncode == 0 else None


def call_sites(so: str | Path) -> list[int]:
    """Offsets of the instruction after every call in the .so's code (return addresses)."""
    out = _run(["objdump", "-d", "--no-show-raw-insn", "-w", str(so)])
    if out is None:
        return []
    sites: list[int] = []
    after_call = False
    for line in out.splitlines():
        m = _INSN.match(line)
        if m is None:
            after_call = False
            continue
        if after_call:
            sites.append(int(m.group(1), 16))
        after_call = m.group(2).startswith("call")
    return sites


def _pick(frames: list[tuple[str, str]]) -> str | None:
    """The name of one address from its (function, file:line) frames, innermost first."""
    good = [(fn, loc) for fn, loc in frames if not loc.startswith("??")]
    if not good:
        return None
    own = [(fn, loc) for fn, loc in good if not any(h in loc for h in _SYSTEM_HEADERS)]
    fn, loc = (own or good)[0]
    path, _, line = loc.rpartition(":")
    line = line.split(" ")[0]
    return f"{os.path.basename(path)}:{line} ({fn})"


def symbolise(so: str | Path, offsets: list[int]) -> dict[int, str]:
    """``file:line (function)`` for each offset addr2line can place."""
    if not offsets:
        return {}
    out = _run(["addr2line", "-e", str(so), "-f", "-i", "-C", "-a"],
               stdin="\n".join(f"0x{o:x}" for o in offsets) + "\n")
    if out is None:
        return {}
    names: dict[int, str] = {}
    cur: int | None = None
    frames: list[tuple[str, str]] = []
    lines = out.splitlines()

    def flush() -> None:
        if cur is not None:
            name = _pick(frames)
            if name is not None:
                names[cur] = name

    i = 0
    while i < len(lines):
        ln = lines[i]
        if ln.startswith("0x"):
            flush()
            cur = int(ln, 16)
            frames = []
            i += 1
            continue
        if i + 1 < len(lines):
            frames.append((ln, lines[i + 1]))
        i += 2
    flush()
    return names


_TABLE_FORMAT = b"sites named by their call instruction"
"""Folded into the cache key: tables cached before a naming change are not reused."""


def _cache_path(so: Path) -> Path:
    h = hashlib.sha256(_TABLE_FORMAT + so.read_bytes()).hexdigest()[:24]
    return cache_dir().parent / "symbols" / f"{h}.json"


def site_table(so: str | Path) -> dict[int, str]:
    """offset -> name for every call site of ``so``, from the cache or computed."""
    path = Path(so)
    cached = _cache_path(path)
    with contextlib.suppress(OSError, ValueError):
        data: dict[str, Any] = json.loads(cached.read_text())
        return {int(k): str(v) for k, v in data["sites"].items()}
    if shutil.which("objdump") is None or shutil.which("addr2line") is None:
        return {}
    # A return address may lie on the line after the call (a copy's return lands on
    # the `return 1;` below it): name each site by its call instruction instead.
    called = symbolise(path, [o - 1 for o in call_sites(path)])
    table = {o + 1: name for o, name in called.items()}
    with contextlib.suppress(OSError):
        cached.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=cached.parent, suffix=".json")
        with os.fdopen(fd, "w") as fh:
            json.dump({"so": str(path), "sites": {str(k): v for k, v in table.items()}}, fh)
        os.replace(tmp, cached)
    return table


def install(so: str | Path, table_ptr: Any) -> int:
    """Give the loaded target's runtime the names of its sites; returns how many."""
    table = site_table(so)
    if not table:
        return 0
    offs = sorted(table)
    keep = [ffi.new("char[]", table[o].encode()) for o in offs]
    rc = lib.mf_target_set_sites(table_ptr, len(offs), ffi.new("uint64_t[]", offs),
                                 ffi.new("char *[]", keep))
    return len(offs) if rc == 0 else 0
