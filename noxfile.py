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
