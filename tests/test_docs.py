"""Every document a file of the repository cites is in the repository.

A citation is any ``name.md`` or ``path/name.md`` in a tracked text file. It is
found when it names a file relative to the repository root or to the citing file's
folder, or (a bare name, as in ``root / "docs" / "adapters.md"``) when some file of
the repository has that name.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CITATION = re.compile(r"[A-Za-z0-9_./-]*[A-Za-z0-9_]\.md\b")
NOT_CITATIONS = {
    ("tests/bench/test_bench.py", "B.md"),  # the file the markdown writer writes in tmp_path
}
WRITTEN = {"summary.md", "regressions.md"}
"""Names of Markdown files mapfuzz writes (``--summary FILE``, nox's fuzz/results/), which
docs and tests name as outputs, not as documents."""
SKIP_DIRS = {"build", "__pycache__", "node_modules"}
TEXT_SUFFIXES = {".py", ".c", ".h", ".md", ".toml", ".cfg", ".ini", ".txt", ".sh", ".yml",
                 ".yaml", ".json", ""}


def _files() -> list[Path]:
    """The tracked files (git), or every file outside build products when there is no
    git checkout."""
    try:
        out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True,
                             check=True).stdout
        names = [n for n in out.decode().split("\0") if n]
    except (OSError, subprocess.CalledProcessError):
        names = [str(p.relative_to(ROOT)) for p in ROOT.rglob("*") if p.is_file() and not (
            set(p.relative_to(ROOT).parts) & SKIP_DIRS
            or any(part.endswith(".egg-info") or part == ".git"
                   for part in p.relative_to(ROOT).parts))]
    return [ROOT / n for n in names if (ROOT / n).suffix in TEXT_SUFFIXES
            and (ROOT / n).is_file()]


def _citations() -> list[tuple[str, str]]:
    found = []
    for path in _files():
        try:
            text = path.read_text()
        except UnicodeDecodeError:
            continue
        rel = str(path.relative_to(ROOT))
        found += [(rel, m) for m in sorted(set(CITATION.findall(text)))]
    return found


def _exists(citing: str, cited: str, names: set[str]) -> bool:
    if (ROOT / cited).is_file() or (ROOT / citing).parent.joinpath(cited).is_file():
        return True
    return "/" not in cited and cited in names


def test_every_cited_document_exists() -> None:
    files = _files()
    names = {p.name for p in files}
    cites = _citations()
    assert len(cites) > 10  # the scan reads the repository
    this = str(Path(__file__).resolve().relative_to(ROOT))  # names missing ones on purpose
    missing = [(a, b) for a, b in cites
               if a != this and (a, b) not in NOT_CITATIONS and Path(b).name not in WRITTEN
               and not _exists(a, b, names)]
    assert missing == [], f"files cite documents that are not in the repository: {missing}"


@pytest.mark.parametrize("cited", ["DESIGN.md", "map_internals.md", "docs/nothing.md"])
def test_a_missing_document_is_noticed(cited: str) -> None:
    names = {p.name for p in _files()}
    assert not _exists("csrc/evacmap.c", cited, names)
    assert _exists("csrc/evacmap.c", "docs/evacmap.md", names)
