"""Targets: the maps the runner drives, loaded by name or from a shared library.

A target is a built-in map (BUILTINS), an adapter mapfuzz builds by name
(harness/run/adapters.py), or any shared library exporting ``mf_target_v1``
(csrc/mapfuzz_target.h). ``Target.load`` resolves and checks it once; the runner
then only sees its function table.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from harness.run.binding import ffi, lib

BUILTINS = {"evacmap": "mf_evacmap", "syncmap": "mf_syncmap", "rwmap": "mf_rwmap"}
"""The maps compiled into mapfuzz: name -> the C function returning its target table."""


def _adapter_names() -> frozenset[str]:
    from harness.run.adapters import ADAPTERS

    return frozenset(ADAPTERS)


class TargetError(Exception):
    """A target could not be loaded: the message names the path and what to do."""


@dataclass(frozen=True)
class Target:
    """A map the runner can drive: a built-in map or a loaded adapter .so."""

    name: str
    path: str | None
    abi_version: int
    caps: int
    variants: tuple[str, ...]
    _table: Any = field(default=None, repr=False, compare=False)
    spec: str = field(default="", compare=False)
    """How to load it again anywhere: a built-in's name, an adapter name, or the .so's path."""
    instrumented: bool = field(default=False, compare=False)
    """Built by ``mapfuzz cc``: its accesses and lock calls are schedule points."""

    @staticmethod
    def load(spec: str) -> Target:
        """A built-in map's name (BUILTINS); an adapter name (``cds_lfht``, ``cuckoo``,
        ``gomap``, ``gosyncmap``:
        harness/run/adapters.py builds it on first use); anything else: a path to a target .so."""
        given = spec
        if spec in _adapter_names():
            from harness.run.adapters import AdapterError, resolve

            try:
                resolved = resolve(spec)
            except AdapterError as exc:
                raise TargetError(str(exc)) from exc
            assert resolved is not None  # a known adapter name resolves or raises
            spec = resolved
        if spec in BUILTINS:
            table = getattr(lib, BUILTINS[spec])()
            if table == ffi.NULL:
                raise TargetError(
                    f"the built-in {spec} is not part of this build yet ({BUILTINS[spec]}() "
                    "returned NULL); pass the path of a target .so instead"
                )
            path: str | None = None
        else:
            path = os.path.abspath(spec) if os.path.exists(spec) else spec
            if not os.path.exists(path):
                raise TargetError(
                    f"{spec}: no such file; a target is a built-in ({', '.join(BUILTINS)}), "
                    f"an adapter ({', '.join(sorted(_adapter_names()))}) or the path of a shared "
                    "library that exports mf_target_v1 (see csrc/mapfuzz_target.h)"
                )
            err = ffi.new("char[]", 512)
            table = lib.mf_load_target(path.encode(), err, 512)
            if table == ffi.NULL:
                raise TargetError(ffi.string(err).decode(errors="replace"))
            if lib.mf_target_density(table, -1) >= 0:
                from harness.run.symbols import install

                install(path, table)   # site names: file:line (function)
        variants: list[str] = []
        if table.variants != ffi.NULL:
            i = 0
            while table.variants[i] != ffi.NULL:
                variants.append(ffi.string(table.variants[i]).decode(errors="replace"))
                i += 1
        name = ffi.string(table.name).decode(errors="replace") if table.name != ffi.NULL else "?"
        again = given if Target.is_named(given) else (path or given)
        return Target(
            name, path, int(table.abi_version), int(table.caps), tuple(variants), table, again,
            path is not None and lib.mf_target_density(table, -1) >= 0,
        )

    def single_thread_ops_per_s(self, nops: int, nkeys: int, seed: int = 1) -> float:
        """The map's own single-thread speed on a fixed mixed workload, measured in C."""
        rate = float(lib.mf_bench_single_thread(self._table, nops, nkeys, seed))
        if rate < 0:
            raise TargetError(f"{self.name}: create failed in the single-thread benchmark")
        return rate

    @staticmethod
    def is_named(name: str) -> bool:
        """True for the targets mapfuzz finds by name: the built-ins and the adapters."""
        return name in BUILTINS or name in _adapter_names()

    def variant_index(self, name: str | None) -> int:
        """The ``variant`` argument of create: 0 for the correct map, i for variants[i-1]."""
        if name is None or name == "correct":
            return 0
        try:
            return self.variants.index(name) + 1
        except ValueError:
            known = ", ".join(("correct", *self.variants))
            raise ValueError(
                f"target {self.name} has no variant {name!r}; its variants: {known}"
            ) from None
