"""cffi build of the C core (API mode): every csrc/*.c into harness._mapfuzz_c.

setup.py names this file in ``cffi_modules``, so ``pip install .`` compiles the C
core. The generated module's first line says it is generated; it lives only in
the build tree and the installed package, never in the sources.
"""

from __future__ import annotations

import os
from pathlib import Path

from cffi import FFI

ROOT = Path(__file__).resolve().parent.parent
CSRC = ROOT / "csrc"

CFLAGS = ["-std=gnu11", "-O2", "-g", "-Wall", "-Wextra", "-Werror", "-pthread"]
"""Warnings are errors: the C core builds warning-free or not at all."""

ffi = FFI()
ffi.cdef((CSRC / "mapfuzz_cdef.h").read_text())
ffi.set_source(
    "harness._mapfuzz_c",
    '#include "mapfuzz_runner.h"\n#include "evacmap.h"\n#include "syncmap.h"\n',
    sources=sorted(os.path.relpath(p, ROOT) for p in CSRC.glob("*.c")),
    include_dirs=[os.path.relpath(CSRC, ROOT)],
    extra_compile_args=CFLAGS + os.environ.get("MAPFUZZ_CFLAGS", "").split(),
    extra_link_args=["-pthread", "-ldl"],
)

if __name__ == "__main__":
    # Developer rebuild after editing csrc/: `python harness/_build.py` writes the
    # module in place (harness/_mapfuzz_c.*.so), where an editable install finds it.
    os.chdir(ROOT)
    ffi.compile(tmpdir=str(ROOT), verbose=False)
