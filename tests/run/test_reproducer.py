"""Reproducer files: round trip, content-hash names, never overwriting, clear errors."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from harness.data.fuzz_input import join_input
from harness.data.schedule import to_json
from harness.oracle import Violation
from harness.run import reproducer
from harness.run.execute import RunSpec
from harness.run.inputs import InputError, load_input
from harness.run.reproducer import Reproducer, ReproducerError
from harness.search.generate import standard_schedule


def sample(seed: int = 5) -> Reproducer:
    return Reproducer(
        target_name="evacmap",
        target_path=None,
        abi_version=1,
        spec=RunSpec(mode="controlled", strategy="pct", seed=seed, pct_depth=3),
        schedule=standard_schedule(),
        trace=(0, 1, 17, 0, 40, 2),
        trace_hash=0x1234ABCD,
        violations=(Violation(cls="stale-read", key="int:42", ops=(3, 9), explanation="why"),),
        found={"engine": "random", "execs": 12},
    )


def test_round_trip_through_json() -> None:
    r = sample()
    back = reproducer.from_json_obj(json.loads(json.dumps(reproducer.to_json_obj(r))))
    assert back == r


def test_replay_spec_follows_the_trace_in_controlled_mode() -> None:
    r = sample()
    assert r.replay_spec().replay == r.trace
    stress = replace(r, spec=RunSpec(mode="stress", seed=3, noise=0.1), trace=())
    assert stress.replay_spec() == stress.spec


def test_save_names_by_content_and_never_overwrites(tmp_path: Path) -> None:
    a = reproducer.save(sample(1), tmp_path)
    again = reproducer.save(sample(1), tmp_path)
    b = reproducer.save(sample(2), tmp_path)
    assert a == again and a != b
    assert a.name.startswith("stale-read-") and a.suffix == ".json"
    assert reproducer.load(a) == sample(1)
    a.write_text(a.read_text().replace('"why"', '"edited by hand"'))
    before = a.read_text()
    with pytest.raises(ReproducerError, match="refusing to overwrite"):
        reproducer.save(sample(1), tmp_path)
    assert a.read_text() == before


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda o: o.pop("format"), "format is None"),
        (lambda o: o.update(mode="chaos"), "mode 'chaos'"),
        (lambda o: o.update(trace=[1, 2, 3]), "even-length"),
        (lambda o: o.pop("seed"), "missing field 'seed'"),
        (lambda o: o["schedule"].update(threads="x"), "schedule"),
    ],
)
def test_bad_reproducers_name_the_problem(mutate: object, message: str) -> None:
    obj = reproducer.to_json_obj(sample())
    mutate(obj)  # type: ignore[operator]
    with pytest.raises(ReproducerError, match=message):
        reproducer.from_json_obj(obj, "r.json")


def test_load_input_tells_the_three_kinds_apart(tmp_path: Path) -> None:
    s = standard_schedule()
    (tmp_path / "s.json").write_text(json.dumps(to_json(s)))
    (tmp_path / "r.json").write_text(json.dumps(reproducer.to_json_obj(sample())))
    (tmp_path / "crash-abc").write_bytes(join_input(77, s))
    assert load_input(tmp_path / "s.json").kind == "schedule"
    assert load_input(tmp_path / "r.json").kind == "reproducer"
    raw = load_input(tmp_path / "crash-abc")
    assert raw.kind == "bytes" and raw.seed == 77 and raw.schedule.threads == s.threads


def test_raw_input_starting_with_a_brace_is_still_raw(tmp_path: Path) -> None:
    s = standard_schedule()
    data = join_input(ord("{"), s)
    assert data[:1] == b"{"
    (tmp_path / "crash-brace").write_bytes(data)
    raw = load_input(tmp_path / "crash-brace")
    assert raw.kind == "bytes" and raw.seed == ord("{") and raw.schedule.threads == s.threads


def test_load_input_errors_name_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(InputError, match=r"bad\.json: not valid JSON"):
        load_input(bad)
    other = tmp_path / "other.json"
    other.write_text('{"format": "something-else/1"}')
    with pytest.raises(InputError, match="something-else/1"):
        load_input(other)
    with pytest.raises(InputError, match="cannot read"):
        load_input(tmp_path / "missing.json")
