"""Shared by the atheris entry points in this directory (thin: the harness lives in
``harness.frontends.atheris_target``; see its docstring for the options).

``run(__file__, family)`` fixes the target family, keeps argv[0] re-exec safe (the
absolute path of the calling script, so -fork/-jobs/-merge/-minimize_crash work)
and hands over to libFuzzer.
"""

from __future__ import annotations

import sys

from harness.frontends.atheris_target import main


def run(script: str, family: str) -> None:
    argv = list(sys.argv)
    has_target = any(a.startswith("--target=") for a in argv[1:])
    if family == "evacmap":
        if has_target and "--target=evacmap" not in argv:
            sys.stderr.write("error: fuzz/evacmap.py fuzzes evacmap; use fuzz/external.py\n")
            sys.exit(2)
        if not has_target:
            argv.insert(1, "--target=evacmap")
    elif not has_target:
        sys.stderr.write(
            f"error: {script}: pass the target library: --target=/path/to/map.so "
            "(it must export mf_target_v1, see csrc/mapfuzz_target.h)\n"
        )
        sys.exit(2)
    main(argv, script=script)


def run_property(script: str, argv: list[str]) -> None:
    """atheris over ``NoFindingProperty(...).test.hypothesis.fuzz_one_input``."""
    import importlib

    from harness.frontends.atheris_target import libfuzzer_argv, parse_options
    from harness.frontends.properties import NoFindingProperty

    try:
        opts = parse_options(argv)
        prop = NoFindingProperty(target_spec=opts.target, variant=opts.variant)
    except ValueError as exc:
        sys.stderr.write(f"error: {exc}\n")
        sys.exit(2)
    atheris = importlib.import_module("atheris")
    atheris.Setup(libfuzzer_argv(argv, script), prop.test.hypothesis.fuzz_one_input)
    atheris.Fuzz()
