"""Adapters for real third-party maps: build them, find them by name.

An adapter is a C or C++ file in ``csrc/adapters/`` that implements the target ABI
(``csrc/mapfuzz_target.h``) on top of a library from a Debian package, compiled
into a shared library that ``Target.load`` opens like any other target .so:

=========  ========================  ===============  ==========================
name       source                    Debian package   library
=========  ========================  ===============  ==========================
cds_lfht   csrc/adapters/cds_lfht.c  liburcu-dev      liburcu's RCU hash table
cuckoo     csrc/adapters/cuckoo.cpp  libcuckoo-dev    libcuckoo's cuckoohash_map
gomap      csrc/adapters/go/         golang-go        Go's map behind RWMutex
gosyncmap  csrc/adapters/go/         golang-go        Go's sync.Map
=========  ========================  ===============  ==========================

The Go adapters are one Go module (standard library only) built twice with
``go build -buildmode=c-shared``, once per build tag (the adapter's name); the
library carries its own Go runtime. Run one Go adapter per process (Go does not
support two runtimes in one process; loading both only to read their tables, as
``mapfuzz targets`` does, works): a benchmark running the pair loads each by name
(``Target.load("gomap")``) or by the path ``resolve`` returns, in its own process.

Where the .so comes from, first match wins:

1. ``pip install .`` (setup.py) builds every adapter whose package is present into
   the installed package (``harness/_adapters/``, with a copy of the sources so a
   later lazy build works too); ``pip install -e .`` builds into the cache below.
2. Otherwise the first ``resolve(name)`` builds it into a per-user cache:
   ``$MAPFUZZ_CACHE_DIR``, else ``$XDG_CACHE_HOME/mapfuzz/adapters``, else
   ``~/.cache/mapfuzz/adapters``. The file name carries a digest of the source,
   the ABI header, the compiler command and versions, so an edited source is rebuilt
   and never mixed up with a stale build. Concurrent builds (fuzz workers) take a
   file lock.

A missing package is never a crash: ``resolve`` raises :class:`AdapterUnavailable`
whose message names the package and the ``apt-get install`` command, and
``available()`` reports the same text in place of a path.

This module imports nothing from ``harness`` (setup.py loads it by path, before
the package is built).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "ADAPTERS",
    "AdapterBuildError",
    "AdapterError",
    "AdapterSpec",
    "AdapterUnavailable",
    "available",
    "build",
    "build_all",
    "cache_dir",
    "resolve",
    "status",
]

WARN_FLAGS = ("-Wall", "-Wextra", "-Werror")
"""Adapters build warning-free or not at all, like the C core."""


@dataclass(frozen=True, slots=True)
class AdapterSpec:
    name: str
    source: str
    """file name in csrc/adapters/"""
    compiler: str
    """gcc or g++"""
    std: str
    package: str
    """the Debian package that provides the library"""
    pkg_config: tuple[str, ...] = ()
    """pkg-config modules giving cflags and libs (empty: header-only)"""
    header: str | None = None
    """a header the library must provide (checked when there is no pkg-config module)"""
    summary: str = ""
    go_tag: str | None = None
    """Go adapters: the build tag selecting the map (``source`` is then a directory)"""


ADAPTERS: dict[str, AdapterSpec] = {
    "cds_lfht": AdapterSpec(
        name="cds_lfht",
        source="cds_lfht.c",
        compiler="gcc",
        std="-std=gnu11",
        package="liburcu-dev",
        pkg_config=("liburcu-memb", "liburcu-cds"),
        summary="liburcu cds_lfht: lock-free RCU hash table, concurrent resize (memb flavour)",
    ),
    "cuckoo": AdapterSpec(
        name="cuckoo",
        source="cuckoo.cpp",
        compiler="g++",
        std="-std=c++11",
        package="libcuckoo-dev",
        header="libcuckoo/cuckoohash_map.hh",
        summary="libcuckoo cuckoohash_map: striped-lock cuckoo table, concurrent expansion",
    ),
    "gomap": AdapterSpec(
        name="gomap",
        source="go",
        compiler="go",
        std="",
        package="golang-go",
        go_tag="gomap",
        summary="Go's runtime map (map[any]any) behind a sync.RWMutex, through cgo",
    ),
    "gosyncmap": AdapterSpec(
        name="gosyncmap",
        source="go",
        compiler="go",
        std="",
        package="golang-go",
        go_tag="gosyncmap",
        summary="Go's sync.Map, through cgo",
    ),
}

GO_CFLAGS = ("-O2", "-g", *WARN_FLAGS, "-Wno-unused-parameter")
"""cgo's generated wrappers have unused parameters; everything else stays an error."""


class AdapterError(Exception):
    """Base class: an adapter cannot be used; the message says why and what to do."""


class AdapterUnavailable(AdapterError):
    """A package, a compiler or the sources are missing (the message names the fix)."""


class AdapterBuildError(AdapterError):
    """The compiler ran and failed (the message holds its output)."""


@dataclass(frozen=True, slots=True)
class AdapterStatus:
    name: str
    path: str | None
    """absolute path of the built .so, or None when unavailable"""
    reason: str | None
    """why it is unavailable, or None"""


_PACKAGE = Path(__file__).resolve().parent.parent
"""The installed ``harness`` package (this module lives in its ``run`` stage)."""
PREBUILT_DIR = _PACKAGE / "_adapters"
"""Where a regular ``pip install`` puts the adapters (and a copy of their sources)."""


def _source_dirs() -> tuple[Path, Path] | None:
    """(adapter sources, directory holding mapfuzz_target.h), or None."""
    repo = _PACKAGE.parent / "csrc"
    if (repo / "adapters").is_dir() and (repo / "mapfuzz_target.h").is_file():
        return repo / "adapters", repo
    packaged = PREBUILT_DIR / "src"
    if packaged.is_dir() and (packaged / "mapfuzz_target.h").is_file():
        return packaged, packaged
    return None


def cache_dir() -> Path:
    env = os.environ.get("MAPFUZZ_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "mapfuzz" / "adapters"


def _run(cmd: list[str], timeout: float = 30.0, cwd: Path | None = None,
         env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run a helper tool; a missing or stuck tool is a failed run, never an exception."""
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False,
                              cwd=cwd, env=env)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return subprocess.CompletedProcess(cmd, 127, "", f"{cmd[0]}: {exc}")


def _apt(spec: AdapterSpec) -> str:
    return f"apt-get install {spec.package}"


def _missing(spec: AdapterSpec) -> str | None:
    """Why ``spec`` cannot be built here, or None when it can."""
    if spec.go_tag is not None:
        if shutil.which("go") is None:
            return (f"the {spec.name} adapter needs the Go toolchain, which is not "
                    f"installed: {_apt(spec)}")
        if shutil.which("gcc") is None:
            return f"the {spec.name} adapter needs gcc for cgo: apt-get install gcc"
        return None
    if shutil.which(spec.compiler) is None:
        pkg = "g++" if spec.compiler == "g++" else "gcc"
        return (f"the {spec.name} adapter needs the {spec.compiler} compiler, which is not "
                f"installed: apt-get install {pkg}")
    if spec.pkg_config:
        if shutil.which("pkg-config") is None:
            return (f"the {spec.name} adapter needs pkg-config to find {spec.package}: "
                    f"apt-get install pkg-config {spec.package}")
        if _run(["pkg-config", "--exists", *spec.pkg_config]).returncode != 0:
            return f"{spec.package} is not installed: {_apt(spec)}"
    if spec.header is not None:
        lang = "c++" if spec.compiler == "g++" else "c"
        try:
            probe = subprocess.run(
                [spec.compiler, "-x", lang, "-E", "-o", os.devnull, "-"],
                input=f"#include <{spec.header}>\n", capture_output=True, text=True,
                timeout=60, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"cannot run {spec.compiler} to look for <{spec.header}>: {exc}"
        if probe.returncode != 0:
            return f"{spec.package} is not installed (no <{spec.header}>): {_apt(spec)}"
    return None


def _pkg_flags(spec: AdapterSpec) -> tuple[list[str], list[str]]:
    if not spec.pkg_config:
        return [], []
    cflags = _run(["pkg-config", "--cflags", *spec.pkg_config]).stdout.split()
    libs = _run(["pkg-config", "--libs", *spec.pkg_config]).stdout.split()
    return cflags, libs


def _go_env(include: Path) -> dict[str, str]:
    """The environment of a Go build: cgo on, the ABI header on the include path, no
    module downloads (the adapters use the standard library only)."""
    env = dict(os.environ, CGO_ENABLED="1", GO111MODULE="on", GOPROXY="off")
    env["CGO_CFLAGS"] = " ".join(("-I", str(include), *GO_CFLAGS))
    if not env.get("HOME") and not env.get("XDG_CACHE_HOME") and not env.get("GOCACHE"):
        env["GOCACHE"] = str(cache_dir() / "go-build")
    return env


def _command(spec: AdapterSpec, src: Path, include: Path, out: Path) -> list[str]:
    if spec.go_tag is not None:
        # run in the module's directory (src); -trimpath keeps checkout paths out of
        # the library but not the file names Go's crash reports print
        return ["go", "build", "-trimpath", "-tags", spec.go_tag, "-buildmode=c-shared",
                "-o", str(out), "."]
    cflags, libs = _pkg_flags(spec)
    return [spec.compiler, spec.std, "-O2", "-g", "-fPIC", "-shared", "-pthread",
            *WARN_FLAGS, "-I", str(include), *cflags, str(src), "-o", str(out), *libs]


def _sources(spec: AdapterSpec, src: Path) -> list[Path]:
    """The files a build reads: the source file, or every file of a Go module."""
    if spec.go_tag is None:
        return [src]
    return sorted(p for p in src.iterdir()
                  if p.is_file() and p.suffix in (".go", ".c", ".h", ".mod"))


def _tool_version(spec: AdapterSpec) -> str:
    if spec.go_tag is not None:
        return _run(["go", "version"]).stdout + _run(["gcc", "-dumpfullversion"]).stdout
    return _run([spec.compiler, "-dumpfullversion"]).stdout


def _digest(spec: AdapterSpec, src: Path, include: Path) -> str:
    h = hashlib.sha256()
    for path in _sources(spec, src):
        h.update(path.name.encode() + b"\0" + path.read_bytes())
    h.update((include / "mapfuzz_target.h").read_bytes())
    # the command without the paths that differ between checkouts and outputs
    h.update(" ".join(_command(spec, Path("SRC"), Path("INC"), Path("OUT"))).encode())
    if spec.go_tag is not None:
        h.update(" ".join(GO_CFLAGS).encode())
    h.update(_tool_version(spec).encode())
    if spec.pkg_config:
        h.update(_run(["pkg-config", "--modversion", *spec.pkg_config]).stdout.encode())
    return h.hexdigest()[:16]


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / ".lock", "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _compile(spec: AdapterSpec, src: Path, include: Path, out: Path) -> None:
    """Compile to a temporary file next to ``out``, then rename (readers never see
    half a library)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{spec.name}-", suffix=".so", dir=out.parent)
    os.close(fd)
    try:
        cmd = _command(spec, src, include, Path(tmp))
        if spec.go_tag is not None:
            res = _run(cmd, timeout=900, cwd=src, env=_go_env(include))
        else:
            res = _run(cmd, timeout=600)
        if res.returncode != 0:
            raise AdapterBuildError(
                f"building the {spec.name} adapter failed ({' '.join(cmd)}):\n"
                + (res.stderr or res.stdout).strip())
        os.chmod(tmp, 0o755)
        os.replace(tmp, out)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp[:-3] + ".h")  # the C header c-shared writes beside it


def build(name: str, out_dir: Path | None = None) -> Path:
    """Build adapter ``name`` (if not built yet) and return its .so.

    ``out_dir`` None: the per-user cache, as ``<name>-<digest>.so``. Otherwise
    ``out_dir/<name>.so`` plus ``out_dir/<name>.digest`` (setup.py's layout).
    Raises KeyError for an unknown name, AdapterUnavailable, AdapterBuildError.
    """
    spec = ADAPTERS[name]
    dirs = _source_dirs()
    if dirs is None:
        raise AdapterUnavailable(
            f"the {name} adapter's sources are not part of this installation; reinstall "
            f"mapfuzz after {_apt(spec)} (or run from a clone)")
    srcdir, include = dirs
    src = srcdir / spec.source
    if shutil.which(spec.compiler) is None:
        raise AdapterUnavailable(_missing(spec) or f"{spec.compiler} is not installed")
    if not src.exists():
        raise AdapterUnavailable(
            f"the {name} adapter's sources ({src}) are missing; reinstall mapfuzz")
    digest = _digest(spec, src, include)
    if out_dir is None:
        directory = cache_dir()
        out = directory / f"{name}-{digest}.so"
        stamp = None
    else:
        directory = out_dir
        out = directory / f"{name}.so"
        stamp = directory / f"{name}.digest"
    if out.exists() and (stamp is None or _read(stamp) == digest):
        return out.resolve()
    why = _missing(spec)
    if why is not None:
        raise AdapterUnavailable(why)
    try:
        with _locked(directory):
            if not (out.exists() and (stamp is None or _read(stamp) == digest)):
                _compile(spec, src, include, out)
                if stamp is not None:
                    stamp.write_text(digest + "\n")
    except OSError as exc:
        raise AdapterBuildError(
            f"cannot write the {name} adapter into {directory}: {exc}; point "
            "MAPFUZZ_CACHE_DIR at a writable directory") from None
    return out.resolve()


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def _prebuilt(name: str) -> Path | None:
    """The .so setup.py installed, when it matches the sources (or there are none)."""
    so = PREBUILT_DIR / f"{name}.so"
    if not so.is_file():
        return None
    dirs = _source_dirs()
    if dirs is None or dirs[0] == PREBUILT_DIR / "src":
        return so
    spec = ADAPTERS[name]
    if shutil.which(spec.compiler) is not None and _read(
            PREBUILT_DIR / f"{name}.digest") == _digest(spec, dirs[0] / spec.source, dirs[1]):
        return so
    return None


def resolve(name: str) -> str | None:
    """Absolute path of adapter ``name``'s .so, building it first if needed.

    None when ``name`` is not an adapter name. Raises :class:`AdapterUnavailable`
    (missing package, compiler or sources: the message names the apt-get command)
    or :class:`AdapterBuildError` (the compiler failed) for a known name.
    """
    if name not in ADAPTERS:
        return None
    pre = _prebuilt(name)
    if pre is not None:
        return str(pre)
    if _source_dirs() is None:
        spec = ADAPTERS[name]
        raise AdapterUnavailable(
            f"the {name} adapter was not built when mapfuzz was installed ({spec.package} "
            f"was missing); {_apt(spec)}, then reinstall mapfuzz")
    return str(build(name))


def status() -> list[AdapterStatus]:
    """Every adapter with its path (built on demand) or the reason it is unavailable."""
    out = []
    for name in ADAPTERS:
        try:
            path = resolve(name)
            out.append(AdapterStatus(name, path, None))
        except AdapterError as exc:
            out.append(AdapterStatus(name, None, str(exc)))
    return out


def available() -> dict[str, str | None]:
    """name -> absolute path of the built .so, or the reason it is unavailable.

    A path always starts with ``/``; a reason never does. Use :func:`status` to
    get the two apart without looking.
    """
    return {s.name: s.path if s.path is not None else s.reason for s in status()}


def build_all(out_dir: Path | None = None, copy_sources: bool = False,
              log: bool = True) -> dict[str, str]:
    """Build every adapter whose package is present (setup.py's hook).

    Never raises for a missing package or a failed build: each is reported (on
    stderr when ``log``) and skipped. ``copy_sources`` also copies the sources and
    the ABI header into ``out_dir/src`` so an installed package can rebuild later.
    Returns name -> path or reason.
    """
    result: dict[str, str] = {}
    if copy_sources and out_dir is not None:
        dirs = _source_dirs()
        if dirs is not None:
            dst = out_dir / "src"
            dst.mkdir(parents=True, exist_ok=True)
            for spec in ADAPTERS.values():
                if spec.go_tag is not None:
                    shutil.copytree(dirs[0] / spec.source, dst / spec.source,
                                    dirs_exist_ok=True)
                else:
                    shutil.copy2(dirs[0] / spec.source, dst / spec.source)
            shutil.copy2(dirs[1] / "mapfuzz_target.h", dst / "mapfuzz_target.h")
    for name in ADAPTERS:
        try:
            path = build(name, out_dir)
            result[name] = str(path)
            msg = f"mapfuzz: built the {name} adapter: {path}"
        except AdapterError as exc:
            result[name] = str(exc)
            msg = f"mapfuzz: skipped the {name} adapter: {exc}"
        except Exception as exc:  # setup.py must never fail because of an adapter
            result[name] = f"unexpected error: {exc!r}"
            msg = f"mapfuzz: skipped the {name} adapter: unexpected error: {exc!r}"
        if log:
            print(msg, file=sys.stderr)
    return result


def main(argv: list[str] | None = None) -> int:
    """``python -m harness.adapters [--build]``: list the adapters (building them)."""
    args = sys.argv[1:] if argv is None else argv
    if args and args[0] not in ("--build", "--list"):
        print("usage: python -m harness.adapters [--build | --list]", file=sys.stderr)
        return 2
    rc = 0
    for s in status():
        if s.path is not None:
            print(f"{s.name}: {s.path}")
        else:
            print(f"{s.name}: unavailable: {s.reason}")
            rc = 1
    return rc


if __name__ == "__main__":
    sys.exit(main())
