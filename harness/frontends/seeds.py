"""Seed inputs for the atheris front end: the random engine's schedules, encoded.

``write_seeds(directory, n)`` writes ``n`` inputs (scheduler seed + schedule bytes,
``harness.frontends.mutator``'s layout) named by their SHA-1, as libFuzzer names
corpus files; existing files are kept. ``fuzz/seeds/evacmap`` was made with it
(``python -m harness.frontends.seeds fuzz/seeds/evacmap 32``).
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

from harness.data.schedule import BYTES_MAX_KEYS, BYTES_MAX_PREFILL
from harness.frontends.mutator import join_input
from harness.run.target import Target
from harness.search.campaign import CampaignConfig, make_engine


def seed_inputs(n: int, target_spec: str = "evacmap", campaign_seed: int = 0) -> list[bytes]:
    """The first ``n`` distinct schedules of the random engine that the byte form
    holds (at most BYTES_MAX_KEYS keys), each with its own scheduler seed."""
    target = Target.load(target_spec)
    engine = make_engine(CampaignConfig(target=target_spec, seed=campaign_seed), target)
    per = engine.seeds_per_schedule
    out: list[bytes] = []
    i = 0
    while len(out) < n:
        s = engine.schedule(i * per)
        if len(s.keys) <= BYTES_MAX_KEYS and len(s.prefill) <= BYTES_MAX_PREFILL:
            out.append(join_input(engine.run_spec(i * per).seed, s))
        i += 1
    return out


def write_seeds(directory: Path, n: int, target_spec: str = "evacmap") -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    out = []
    for data in seed_inputs(n, target_spec):
        path = directory / hashlib.sha1(data).hexdigest()
        if not path.exists():
            path.write_bytes(data)
        out.append(path)
    return out


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: python -m harness.frontends.seeds DIR N")
    paths = write_seeds(Path(sys.argv[1]), int(sys.argv[2]))
    print(f"{len(paths)} seed inputs in {sys.argv[1]}")
