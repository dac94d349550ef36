"""The atheris (libFuzzer) harness: one process, libFuzzer in charge.

Run it through a script in ``fuzz/`` (``python fuzz/evacmap.py --variant=V CORPUS
-max_total_time=60``), as ``python -m harness.frontends.atheris_target``, or let
``mapfuzz fuzz --engine atheris`` run it as a subprocess. Command line: libFuzzer's
own single-dash flags and corpus directories / crash files, plus mapfuzz's options,
which start with ``--`` (libFuzzer ignores those) and take ``=``:

    --target=evacmap|PATH.so   the map (default evacmap; fuzz/external.py needs PATH)
    --variant=NAME             a seeded bug of the target (default: the correct map)
    --artifacts=DIR            where JSON reproducers go (default: the directory of
                               -artifact_prefix, else ./)
    --pct-depth=N              PCT depth of the controlled scheduler (default 3)
    --no-interleaving-counters do not register the interleaving counters
    --no-custom-mutator        byte-level mutations only
    --instrument=harness|none  Python coverage of the harness package (default none)

Each input is split as ``harness.frontends.mutator`` documents (first 8 bytes: the
scheduler seed; the rest: the schedule's byte form), run once in controlled mode,
and judged by the oracle. On a finding the harness writes the JSON reproducer into
the artifacts directory, prints ``replay with: mapfuzz repro <file>`` and a
``MAPFUZZ_FINDING {json}`` line (for the driver), and raises, so libFuzzer writes
the crash input (exit code 77).

Interleaving coverage: the runner's 65,536 8-bit counters of the last controlled run
are copied after every execution into one array registered with libFuzzer once
(``__sanitizer_cov_8bit_counters_init`` plus a PC table of unique fake PCs inside
that array, so ``cov:`` counts interleaving sites too). A copy rather than the
runner's own array: the runner replaces its C state when a thread gets stuck in
the target, and a registered address must stay valid for the process's life.

Re-exec: libFuzzer's -fork, -jobs, -merge and -minimize_crash re-run argv[0]
through ``sh``, so argv[0] is rewritten to ``python <absolute script>`` (or
``python -m harness.frontends.atheris_target``). ``-timeout`` is always passed
(default DEFAULT_TIMEOUT s; atheris' own default is 300 s).
"""

from __future__ import annotations

import ctypes
import importlib
import importlib.util
import json
import os
import shlex
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_TIMEOUT = 20
FINDING_TAG = "MAPFUZZ_FINDING"
EXIT_USAGE = 2

COUNTERS = 65536


@dataclass
class Options:
    target: str = "evacmap"
    variant: str | None = None
    artifacts: Path | None = None
    pct_depth: int = 3
    counters: bool = True
    custom_mutator: bool = True
    instrument: str = "none"


def parse_options(argv: list[str]) -> Options:
    """mapfuzz's ``--name[=value]`` options out of a libFuzzer command line (the rest is
    libFuzzer's). Raises ValueError naming an unknown or malformed option."""
    o = Options()
    for arg in argv[1:]:
        if not arg.startswith("--"):
            continue
        name, eq, value = arg[2:].partition("=")
        if name == "target" and eq and value:
            o.target = value
        elif name == "variant" and eq:
            o.variant = value if value not in ("", "correct") else None
        elif name == "artifacts" and eq and value:
            o.artifacts = Path(value)
        elif name == "pct-depth" and eq and value.isdigit():
            o.pct_depth = int(value)
        elif name == "no-interleaving-counters" and not eq:
            o.counters = False
        elif name == "no-custom-mutator" and not eq:
            o.custom_mutator = False
        elif name == "instrument" and value in ("harness", "none"):
            o.instrument = value
        else:
            raise ValueError(
                f"unknown or malformed option {arg!r}; mapfuzz options: --target=, --variant=, "
                "--artifacts=, --pct-depth=N, --no-interleaving-counters, --no-custom-mutator, "
                "--instrument=harness|none (libFuzzer's own flags take one dash)"
            )
    return o


def reexec_argv0(script: str | None) -> str:
    """argv[0] that ``sh`` can run again: the interpreter plus the absolute script."""
    if script is None:
        return shlex.join([sys.executable, "-m", "harness.frontends.atheris_target"])
    return shlex.join([sys.executable, os.path.abspath(script)])


def libfuzzer_argv(argv: list[str], script: str | None) -> list[str]:
    """The argv handed to atheris.Setup: re-exec-safe argv[0], -timeout always set."""
    out = [reexec_argv0(script), *argv[1:]]
    if not any(a.startswith("-timeout=") for a in out):
        out.append(f"-timeout={DEFAULT_TIMEOUT}")
    return out


def artifacts_dir(argv: list[str], opts: Options) -> Path:
    if opts.artifacts is not None:
        return opts.artifacts
    for a in argv:
        if a.startswith("-artifact_prefix="):
            prefix = a.split("=", 1)[1]
            return Path(prefix).parent if not prefix.endswith("/") else Path(prefix)
    return Path(".")


class InterleavingCounters:
    """One 8-bit counter array (and its PC table) registered with libFuzzer."""

    def __init__(self) -> None:
        self.counters = (ctypes.c_uint8 * COUNTERS)()
        self.pcs = (ctypes.c_size_t * (2 * COUNTERS))()
        base = ctypes.addressof(self.counters)
        for i in range(COUNTERS):
            self.pcs[2 * i] = base + i  # unique, never code: no symbolization needed
        self.registered = False

    def register(self, atheris: Any) -> None:
        lib = _sancov_library(atheris)
        init = getattr(lib, "__sanitizer_cov_8bit_counters_init")
        init.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
        pcs_init = getattr(lib, "__sanitizer_cov_pcs_init")
        pcs_init.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
        base = ctypes.addressof(self.counters)
        init(base, base + COUNTERS)
        pbase = ctypes.addressof(self.pcs)
        pcs_init(pbase, pbase + ctypes.sizeof(self.pcs))
        self.registered = True

    def load(self, coverage: bytes) -> None:
        ctypes.memmove(self.counters, coverage, COUNTERS)

    def clear(self) -> None:
        ctypes.memset(self.counters, 0, COUNTERS)


def _sancov_library(atheris: Any) -> ctypes.CDLL:
    """The libFuzzer that atheris uses: a preloaded one (LD_PRELOAD, for native
    instrumented targets) or the one built into atheris."""
    glob = ctypes.CDLL(None)
    if hasattr(glob, "LLVMFuzzerRunDriver"):
        return glob
    # Only the path: importing the module before Fuzz() makes atheris drop the
    # custom mutator (seen with 3.0.0).
    spec = importlib.util.find_spec("atheris.core_with_libfuzzer")
    if spec is None or spec.origin is None:
        raise RuntimeError("atheris.core_with_libfuzzer not found: is atheris installed?")
    return ctypes.CDLL(spec.origin)


def _atheris() -> Any:
    """The atheris module (optional dependency; untyped)."""
    return importlib.import_module("atheris")


class Harness:
    """TestOneInput and the custom mutator over one target/variant."""

    def __init__(self, opts: Options, artifacts: Path) -> None:
        from harness.data.schedule import MapConfig
        from harness.frontends import check as properties
        from harness.run.execute import allowed_kinds

        self.props = properties
        self.opts = opts
        self.artifacts = artifacts
        self.target, self.runner = properties.runner_for(opts.target)
        self.target.variant_index(opts.variant)  # ValueError naming the variants
        self.config = MapConfig(target=self.target.spec, variant=opts.variant)
        self.kinds = allowed_kinds(self.target)
        self.counters = InterleavingCounters() if opts.counters else None
        self.execs = 0
        self.start = time.monotonic()

    def test_one_input(self, data: bytes) -> None:
        from harness.frontends.mutator import split_input

        self.execs += 1
        if self.counters is not None and not self.counters.registered:
            # Registered from inside the first input: loading libFuzzer's library
            # before Fuzz() makes atheris 3.0.0 drop the custom mutator. libFuzzer
            # takes late registrations (atheris itself registers before each input).
            self.counters.register(_atheris())
        seed, schedule = split_input(data, self.config)
        try:
            self.props.check_or_raise(
                schedule, seed, target_spec=self.opts.target, pct_depth=self.opts.pct_depth
            )
        except self.props.FindingError as exc:
            self._report(exc, data)
            raise
        finally:
            if self.counters is not None:
                self.counters.load(self.runner.coverage())

    def _report(self, exc: Any, data: bytes) -> None:
        import hashlib

        from harness.run.trust import replay_command

        found = {
            "engine": "atheris",
            "input_sha1": hashlib.sha1(data).hexdigest(),
            "execs": self.execs,
            "elapsed_s": round(time.monotonic() - self.start, 3),
        }
        saved = exc.save(self.artifacts, found)
        path = saved.path
        v = exc.violations[0]
        line = {
            "class": v.cls,
            "key": v.key,
            "explanation": v.explanation,
            "execs": self.execs,
            "elapsed_s": found["elapsed_s"],
            "reproducer": None if path is None else str(path),
            "write_problem": saved.problem,
            "reproducer_text": saved.text if path is None else "",
        }
        sys.stderr.write(
            f"\nmapfuzz: {v.cls} found; reproducer {path}\n"
            f"replay with: "
            f"{replay_command(path, self.target.spec) if path else f'mapfuzz repro {path}'}\n"
            f"{FINDING_TAG} {json.dumps(line)}\n"
        )
        sys.stderr.flush()

    def mutate(self, data: bytes, max_size: int, seed: int) -> bytes:
        from harness.frontends.mutator import mutate

        return mutate(
            data, max_size, seed, fallback=_atheris().Mutate, config=self.config, kinds=self.kinds
        )


def main(argv: list[str] | None = None, script: str | None = None) -> None:
    """Parse options, set up atheris and fuzz (never returns: libFuzzer exits)."""
    argv = list(sys.argv if argv is None else argv)
    try:
        opts = parse_options(argv)
    except ValueError as exc:
        sys.stderr.write(f"error: {exc}\n")
        sys.exit(EXIT_USAGE)
    try:
        atheris = _atheris()
    except ImportError:
        sys.stderr.write(
            "error: atheris is not installed; install the fuzz extra: pip install -e '.[fuzz]' "
            "(atheris 3.0.0 on Python 3.11, 3.1+ on 3.12+)\n"
        )
        sys.exit(EXIT_USAGE)
    if opts.instrument == "harness":
        with atheris.instrument_imports(include=["harness"], exclude=["harness.frontends"]):
            pass
    try:
        h = Harness(opts, artifacts_dir(argv, opts))
    except Exception as exc:  # a bad target or variant: say so before libFuzzer starts
        sys.stderr.write(f"error: {exc}\n")
        sys.exit(EXIT_USAGE)
    atheris.Setup(
        libfuzzer_argv(argv, script),
        h.test_one_input,
        custom_mutator=h.mutate if opts.custom_mutator else None,
    )
    atheris.Fuzz()


if __name__ == "__main__":
    main()
