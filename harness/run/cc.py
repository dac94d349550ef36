"""``mapfuzz cc``: build a target .so whose memory accesses are schedule points.

The user's adapter and map sources are compiled with gcc's ThreadSanitizer
instrumentation (``-fsanitize=thread``) as the hook ABI, and linked, *without*
libtsan, against mapfuzz's own runtime (``csrc/instrument/mf_instrument.c``),
plus ``-Wl,--wrap`` flags that route the pthread lock calls and
memcpy/memmove/memset of the instrumented code through that runtime. The runtime
object is compiled on first use into the per-user cache (next to the adapters of
harness/run/adapters.py), named by a digest of its source, compiler and density.

C or C++ by extension; ``$CC`` / ``$CXX`` name the compilers (default gcc / g++).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shlex
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

from harness.run.adapters import _locked, cache_dir

__all__ = [
    "CXX_EXTENSIONS",
    "C_EXTENSIONS",
    "WRAPPED",
    "CcError",
    "build",
    "include_dir",
    "parse_points",
    "runtime_object",
]

C_EXTENSIONS = (".c",)
CXX_EXTENSIONS = (".cc", ".cpp", ".cxx", ".c++", ".C")

WRAPPED = (
    "pthread_mutex_lock", "pthread_mutex_trylock", "pthread_mutex_timedlock",
    "pthread_mutex_unlock",
    "pthread_rwlock_rdlock", "pthread_rwlock_wrlock", "pthread_rwlock_tryrdlock",
    "pthread_rwlock_trywrlock", "pthread_rwlock_unlock",
    "pthread_spin_lock", "pthread_spin_trylock", "pthread_spin_unlock",
    "pthread_cond_wait", "pthread_cond_timedwait", "pthread_cond_clockwait",
    "pthread_cond_signal",
    "pthread_cond_broadcast",
    "sem_wait", "sem_trywait", "sem_timedwait", "sem_post",
    "memcpy", "memmove", "memset",
    "free", "realloc",
)
"""Calls of the instrumented code served by the runtime (``__wrap_NAME``)."""

WRAPPED_CXX = ("_ZNSt18condition_variable4waitERSt11unique_lockISt5mutexE",)
"""C++ targets only (mf_instrument_cxx.c): std::condition_variable::wait."""

NO_INLINE_COPIES = ("-fno-builtin-memcpy", "-fno-builtin-memmove", "-fno-builtin-memset")
"""gcc expands a copy whose length it can bound (``memcpy(v, s, n < 256 ? n : 256)``)
inline as ``rep movs``, which no hook sees: such a copy would have no schedule point
at all. Kept as calls, every copy reaches the wrapped memcpy and is split at points."""

_LINK_ONLY = ("-l", "-L", "-Wl,", "-shared", "-static")

_PACKAGE = Path(__file__).resolve().parent.parent


class CcError(Exception):
    """A build failed: one line naming the file or the compiler's first error."""


def _csrc() -> Path:
    """The C sources: the repository's csrc/, or the copy a regular install ships."""
    for d in (_PACKAGE.parent / "csrc", _PACKAGE / "_csrc"):
        if (d / "mapfuzz_target.h").is_file() and (d / "instrument" / "mf_instrument.c").is_file():
            return d
    raise CcError("mapfuzz_target.h and the instrumentation runtime are not part of this "
                  "installation; reinstall mapfuzz (pip install .) or run from a clone")


def include_dir() -> Path:
    """The directory holding mapfuzz_target.h (``mapfuzz cc --print-include``)."""
    return _csrc()


def parse_points(value: str) -> int:
    """``sync`` -> 0, ``all`` -> 1, ``N`` (every Nth plain access) -> N."""
    if value == "sync":
        return 0
    if value == "all":
        return 1
    try:
        n = int(value)
    except ValueError:
        n = 0
    if n < 1:
        raise CcError(f"--points {value!r}: give sync, all, or a number N >= 1 (a point at "
                      "every Nth plain access)")
    return n


def _compilers() -> tuple[list[str], list[str]]:
    cc = shlex.split(os.environ.get("CC", "")) or ["gcc"]
    cxx = shlex.split(os.environ.get("CXX", "")) or ["g++"]
    return cc, cxx


def _run(cmd: list[str]) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return subprocess.CompletedProcess(cmd, 127, "", f"{cmd[0]}: {exc}")


def _first_error(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    for ln in lines:
        if "error" in ln or "undefined reference" in ln:
            return ln
    return lines[0] if lines else "no output"


RUNTIME_FLAGS = ("-std=gnu11", "-O2", "-g", "-fPIC", "-fvisibility=hidden",
                 "-fno-tree-loop-distribute-patterns", "-Wall", "-Wextra", "-Werror",
                 "-pthread")
"""The runtime is never instrumented; only mf_instrument_v1 is exported; loops are
never turned into (wrapped) memcpy calls."""


def runtime_object(points: int = 1, name: str = "mf_instrument") -> Path:
    """The compiled runtime (``name``: mf_instrument, or mf_instrument_cxx for the
    C++ part) for a default point density, built on first use."""
    src = _csrc() / "instrument" / f"{name}.c"
    cc, _ = _compilers()
    cmd = [*cc, *RUNTIME_FLAGS, f"-DMF_POINTS_DEFAULT={points}", "-c"]
    h = hashlib.sha256()
    h.update(src.read_bytes())
    h.update((src.parent / "mf_instrument.h").read_bytes())
    h.update((_csrc() / "mapfuzz_target.h").read_bytes())
    h.update(" ".join(cmd).encode())
    h.update(_run([*cc, "-dumpfullversion"]).stdout.encode())
    directory = cache_dir().parent / "instrument"
    out = directory / f"{name}-{h.hexdigest()[:16]}.o"
    if out.exists():
        return out
    try:
        with _locked(directory):
            if not out.exists():
                fd, tmp = tempfile.mkstemp(prefix=f".{name}-", suffix=".o", dir=directory)
                os.close(fd)
                try:
                    res = _run([*cmd, str(src), "-o", tmp])
                    if res.returncode != 0:
                        raise CcError("building the instrumentation runtime failed: "
                                      + _first_error(res.stderr or res.stdout))
                    os.replace(tmp, out)
                finally:
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(tmp)
    except OSError as exc:
        raise CcError(f"cannot write the instrumentation runtime into {directory}: {exc}; "
                      "point MAPFUZZ_CACHE_DIR at a writable directory") from None
    return out


def _language(src: Path) -> str:
    if src.suffix in CXX_EXTENSIONS:
        return "c++"
    if src.suffix in C_EXTENSIONS:
        return "c"
    raise CcError(f"{src}: unknown source kind {src.suffix!r}; mapfuzz cc compiles C "
                  f"({', '.join(C_EXTENSIONS)}) and C++ ({', '.join(CXX_EXTENSIONS)}) files")


def build(sources: Sequence[str | Path], out: str | Path | None = None,
          flags: Sequence[str] = (), points: int = 1) -> Path:
    """Compile ``sources`` into an instrumented target .so and return its path.

    ``flags`` go to every compile (and the link); linker flags (``-l``, ``-L``,
    ``-Wl,``) only to the link. ``out`` defaults to the first source's stem + .so.
    ``points``: the default density of plain-access points (0 sync, 1 all, N every
    Nth); ``MAPFUZZ_POINTS`` overrides it at run time.
    """
    srcs = [Path(s) for s in sources]
    if not srcs:
        raise CcError("no source files given: mapfuzz cc [-o OUT.so] SOURCES... [-- FLAGS]")
    for s in srcs:
        if not s.is_file():
            raise CcError(f"{s}: no such source file")
    langs = [_language(s) for s in srcs]
    target = Path(out) if out is not None else Path(srcs[0].stem + ".so")
    if target.parent and not target.parent.is_dir():
        raise CcError(f"{target}: directory {target.parent} does not exist")
    cc, cxx = _compilers()
    for tool in {cc[0], cxx[0]} if "c++" in langs else {cc[0]}:
        if shutil.which(tool) is None:
            raise CcError(f"compiler {tool} not found; install gcc/g++ (apt-get install "
                          "build-essential) or set $CC / $CXX")
    link_flags = [f for f in flags if f.startswith(_LINK_ONLY) or f.endswith((".a", ".so", ".o"))]
    compile_flags = [f for f in flags if f not in link_flags]
    opt = [] if any(f.startswith("-O") for f in compile_flags) else ["-O1"]
    cxx_lang = "c++" in langs
    runtime = [str(runtime_object(points))]
    wraps = list(WRAPPED)
    if cxx_lang:
        runtime.append(str(runtime_object(points, "mf_instrument_cxx")))
        wraps += WRAPPED_CXX
    with tempfile.TemporaryDirectory(prefix="mapfuzz-cc-") as tmp:
        objs: list[str] = []
        for i, (s, lang) in enumerate(zip(srcs, langs, strict=True)):
            obj = os.path.join(tmp, f"{i}-{s.stem}.o")
            comp = cxx if lang == "c++" else cc
            cmd = [*comp, "-fsanitize=thread", "-fPIC", "-g", *opt, "-pthread",
                   "-Wno-tsan", *NO_INLINE_COPIES,
                   "-I", str(include_dir()), *compile_flags, "-c", str(s), "-o", obj]
            res = _run(cmd)
            if res.returncode != 0:
                raise CcError(f"compiling {s} failed: {_first_error(res.stderr or res.stdout)}")
            objs.append(obj)
        driver = cxx if cxx_lang else cc
        tmp_out = os.path.join(tmp, "out.so")
        cmd = [*driver, "-shared", "-fPIC", "-g", "-pthread", "-o", tmp_out, *objs, *runtime,
               *[f"-Wl,--wrap={name}" for name in wraps], *link_flags, "-ldl",
               # a hook the runtime lacks is a link error here, not a dlopen failure later
               "-Wl,--no-undefined"]
        res = _run(cmd)
        if res.returncode != 0:
            raise CcError(f"linking {target} failed: {_first_error(res.stderr or res.stdout)}")
        try:
            shutil.move(tmp_out, target)
        except OSError as exc:
            raise CcError(f"cannot write {target}: {exc}") from None
    return target.resolve()
