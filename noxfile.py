"""nox sessions: exactly what CI runs.

`nox` runs tests, lint and typecheck. Fuzz sessions (issue: front ends) stay out
of the default list.
"""

from __future__ import annotations

import nox

nox.options.sessions = ["tests", "lint", "typecheck"]
nox.options.reuse_existing_virtualenvs = True


@nox.session
def tests(session: nox.Session) -> None:
    """The test suite (builds the C core through the normal install)."""
    session.install("-e", ".[dev]")
    session.run("python", "-m", "pytest", "-q", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff over the package, tests and tooling."""
    session.install("ruff")
    session.run("ruff", "check", "harness", "tests", "noxfile.py")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict over the harness package."""
    session.install("-e", ".[dev]")
    session.run("mypy", "harness")


# ---- fuzz sessions (not in the default list: `nox -s fuzz`, ...) ---------------------
#
# CI recipe: docs/ci.md. Corpus in fuzz/corpus/<name> (cache it between runs),
# findings (JSON reproducers + libFuzzer crash inputs) in fuzz/artifacts (upload it).

FUZZ_CORPUS = "fuzz/corpus"
FUZZ_ARTIFACTS = "fuzz/artifacts"
FUZZ_RESULTS = "fuzz/results"
"""JUnit XML, SARIF and a Markdown summary of the fuzz session, for the CI server."""


def _budget(session: nox.Session, default: str = "60") -> tuple[str, list[str]]:
    """Seconds from the first posarg if it is a number, else FUZZ_SECONDS, else the
    default; the other posargs are passed on (raw libFuzzer flags for `fuzz`)."""
    import os

    args = list(session.posargs)
    if args and args[0].replace(".", "", 1).isdigit():
        return args[0], args[1:]
    return os.environ.get("FUZZ_SECONDS", default), args


@nox.session(tags=["fuzz"])
def fuzz(session: nox.Session) -> None:
    """atheris on the correct evacmap, time-boxed (`nox -s fuzz -- 30 [-flags]`); the
    canary runs first. Fails on any finding (each printed with its replay command)."""
    session.install("-e", ".[fuzz]")
    seconds, extra = _budget(session)
    session.run(
        "mapfuzz", "fuzz", "--engine", "atheris", "--time", seconds,
        "--corpus", f"{FUZZ_CORPUS}/evacmap", "--artifacts", f"{FUZZ_ARTIFACTS}/evacmap",
        "--junit", f"{FUZZ_RESULTS}/fuzz.xml", "--sarif", f"{FUZZ_RESULTS}/fuzz.sarif",
        "--summary", f"{FUZZ_RESULTS}/summary.md",
        *(["--", *extra] if extra else []),
    )


@nox.session(tags=["fuzz"])
def fuzz_mutants(session: nox.Session) -> None:
    """Every seeded evacmap variant must be found by atheris within the per-variant
    budget (`nox -s fuzz_mutants -- 60`); prints a table, fails naming escapes."""
    session.install("-e", ".[fuzz]")
    seconds, extra = _budget(session, default="60")
    session.run(
        "python", "-m", "harness.frontends.mutants", seconds,
        "--artifacts", f"{FUZZ_ARTIFACTS}/mutants",
        "--json", f"{FUZZ_ARTIFACTS}/mutants/summary.json", *extra,
    )


@nox.session(tags=["fuzz"])
def fuzz_hypothesis(session: nox.Session) -> None:
    """The hypothesis properties with the CI profile (deadline off, no database);
    examples per property from posargs (`nox -s fuzz_hypothesis -- 500`), default 200."""
    session.install("-e", ".[dev]")
    examples = session.posargs[0] if session.posargs else "200"
    session.run(
        "python", "-m", "pytest", "-q", "tests/frontends/test_frontends_properties.py",
        env={"MAPFUZZ_HYPOTHESIS_EXAMPLES": examples, "HYPOTHESIS_PROFILE": "mapfuzz-ci"},
    )
