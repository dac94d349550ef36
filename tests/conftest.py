"""Fixtures shared across test modules."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from harness.tools.candidates import LocalRuns


@pytest.fixture(scope="module")
def local() -> Iterator[LocalRuns]:
    """Candidate runs in this process on evacmap (the minimiser's and witness search's)."""
    runs = LocalRuns("evacmap")
    yield runs
    runs.close()
