"""The C core's cffi binding: ``ffi`` and ``lib`` of harness._mapfuzz_c.

One place imports the generated module (built by harness/_build.py from csrc/), so
every module of the run stage that calls into C shares it.
"""

from __future__ import annotations

import importlib
from typing import Any

_c: Any = importlib.import_module("harness._mapfuzz_c")
ffi: Any = _c.ffi
lib: Any = _c.lib
