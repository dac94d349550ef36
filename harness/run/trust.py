"""Which shared libraries a file may make mapfuzz load.

A reproducer names the target it ran on (``target.path``) and a schedule names one too
(``config.target``). Loading a library runs its code, so a file from elsewhere (a CI
artifact, a bug report) must not choose one on its own. mapfuzz loads, without asking:
the built-in evacmap, the adapters by name (harness.run.adapters builds them), and a
library inside the current project (the working directory) or inside mapfuzz's adapter
cache. Any other path must be confirmed by the user, by naming it with ``--target``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from harness.run.inputs import LoadedInput


def _inside(path: str, root: str) -> bool:
    try:
        return os.path.commonpath([path, root]) == root
    except ValueError:  # different drives, or one relative
        return False


def trusted_roots() -> list[str]:
    """Directories whose libraries load without confirmation: the working directory and
    mapfuzz's adapter cache."""
    from harness.run.adapters import cache_dir

    return [os.path.realpath(os.getcwd()), os.path.realpath(cache_dir())]


def needs_confirmation(spec: str, confirmed: Iterable[str] = ()) -> bool:
    """True when ``spec`` is a library path outside the trusted roots that the user did
    not name (``confirmed``: the paths given with --target)."""
    from harness.run.target import Target

    if Target.is_named(spec):
        return False
    real = os.path.realpath(spec)
    if any(os.path.realpath(c) == real for c in confirmed):
        return False
    return not any(_inside(real, root) for root in trusted_roots())


def replay_command(reproducer: Path | str, target: str | None = None) -> str:
    """The command that replays a reproducer written for ``target`` (its spec): with
    ``--target`` when the library lies outside the trusted roots, since repro would
    otherwise ask for that confirmation."""
    cmd = f"mapfuzz repro {reproducer}"
    if target is not None and needs_confirmation(target):
        cmd += f" --target {target}"
    return cmd


def confirmation_hint(file: Path, spec: str, command: str) -> str:
    return (f"{file} names the target library {spec}, outside this project and mapfuzz's "
            f"cache; mapfuzz loads a library only when you confirm it: mapfuzz {command} "
            f"{file} --target {spec} (or run from the directory that holds it)")


def named_targets(loaded: LoadedInput) -> set[str]:
    """Every target a file names: a reproducer's, and its schedule's own config.target."""
    specs = {loaded.schedule.config.target}
    if loaded.reproducer is not None:
        specs.add(loaded.reproducer.target_spec)
    return specs


def check_named_targets(path: Path, loaded: LoadedInput, command: str,
                        confirmed: Iterable[str] = ()) -> str | None:
    """The hint for the first target ``loaded`` names that needs confirmation, or None."""
    confirmed = list(confirmed)
    for spec in sorted(named_targets(loaded)):
        if needs_confirmation(spec, confirmed):
            return confirmation_hint(path, spec, command)
    return None
