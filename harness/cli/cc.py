"""`mapfuzz cc`: build a target .so whose accesses and lock calls are schedule points."""

from __future__ import annotations

import click

from harness.cli.common import cli, err, fail


@cli.command(context_settings={"ignore_unknown_options": True})
@click.option("-o", "out", type=click.Path(dir_okay=False), default=None,
              help="the target .so to write (default: the first source's name + .so)")
@click.option("--points", default="all", show_default=True,
              help="plain-access schedule points: all, sync (atomics and lock calls only), "
                   "or N (every Nth access); MAPFUZZ_POINTS overrides it at run time")
@click.option("--print-include", is_flag=True,
              help="print the directory holding mapfuzz_target.h and exit")
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def cc(out: str | None, points: str, print_include: bool, args: tuple[str, ...]) -> None:
    """Compile a map and its adapter into a target .so instrumented for mapfuzz.

    \b
    mapfuzz cc [-o OUT.so] SOURCES... [-- COMPILER/LINKER FLAGS]
    e.g. mapfuzz cc -o mymap.so adapter.c mymap.c -- -O1 -lfoo

    C or C++ by extension ($CC / $CXX, default gcc / g++). The sources are compiled
    with gcc's -fsanitize=thread instrumentation served by mapfuzz's runtime (not
    libtsan): atomics, pthread lock calls, plain accesses and memcpy/memset become
    schedule points named file:line, so controlled mode interleaves inside the
    map's operations with no host->point calls in the code."""
    from harness.run.cc import CcError, build, include_dir, parse_points

    try:
        if print_include:
            click.echo(str(include_dir()))
            return
        # click drops the `--` separator: the sources come first, and the first
        # argument that starts with '-' begins the compiler/linker flags.
        sources = list(args)
        first_flag = next((i for i, a in enumerate(sources) if a.startswith("-")), len(sources))
        sources, flags = sources[:first_flag], sources[first_flag:]
        so = build(sources, out, flags, parse_points(points))
    except CcError as exc:
        fail(str(exc))
    err.print(f"built {so}")
    err.print(f"fuzz it with: mapfuzz fuzz --target {so}")
    click.echo(str(so))
