"""The cffi extension needs setup.py's cffi_modules; everything else is in pyproject.toml.

The build also compiles the adapters for real third-party maps (csrc/adapters/,
see harness/run/adapters.py) whose Debian packages are installed: a regular install
puts them into the package (harness/_adapters/), an editable install into the
per-user cache that harness.adapters.resolve looks in. A missing package only
prints which one and the apt-get command; it never fails the install. A regular
install also ships csrc/mapfuzz_target.h and the instrumentation runtime
(csrc/instrument/) as harness/_csrc/, for `mapfuzz cc`.
"""

import importlib.util
import shutil
import sys
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent


def _adapters_module():
    """harness/run/adapters.py, loaded by path (the harness package is not built yet)."""
    name = "_mapfuzz_adapters_build"
    spec = importlib.util.spec_from_file_location(name, ROOT / "harness" / "run" / "adapters.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


class build_py_with_adapters(build_py):
    def run(self):
        super().run()
        if not getattr(self, "editable_mode", False):
            # `mapfuzz cc` (harness/run/cc.py) needs the ABI header and the
            # instrumentation runtime's sources in an installed package too.
            dst = Path(self.build_lib) / "harness" / "_csrc"
            (dst / "instrument").mkdir(parents=True, exist_ok=True)
            for rel in ("mapfuzz_target.h", "instrument/mf_instrument.c",
                        "instrument/mf_instrument_cxx.c", "instrument/mf_instrument.h"):
                shutil.copy2(ROOT / "csrc" / rel, dst / rel)
        try:
            adapters = _adapters_module()
            if getattr(self, "editable_mode", False):
                adapters.build_all()
            else:
                out = Path(self.build_lib) / "harness" / "_adapters"
                adapters.build_all(out, copy_sources=True)
        except Exception as exc:  # an adapter must never break the install
            print(f"mapfuzz: adapters not built: {exc!r}", file=sys.stderr)


setup(
    cffi_modules=["harness/_build.py:ffi"],
    cmdclass={"build_py": build_py_with_adapters},
)
