"""Schedule model, JSON codec and total byte codec (harness/data/schedule.py)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.data.schedule import (
    BYTES_MAX_KEYS,
    BYTES_MAX_PREFILL,
    FORMAT,
    MAX_CAPACITY,
    MAX_KEYS,
    MAX_OPS,
    MAX_PREFILL,
    MAX_THREADS,
    MapConfig,
    Op,
    Schedule,
    ScheduleError,
    decode_bytes,
    dumps,
    encode_bytes,
    from_json,
    loads,
    to_json,
)
from harness.strategies import schedules

# ---- strategies: harness.strategies (public) ----------------------------------


# ---- model -----------------------------------------------------------------------


def small() -> Schedule:
    return Schedule(
        MapConfig(hash_seed=5, capacity=8),
        (42, "42", b"42"),
        (Op("put", 0, "int"),),
        ((Op("get", 0), Op("put", 1, "str", 12)), (Op("delete", 2), Op("iterate"), Op("len"))),
    )


def test_op_default_sizes() -> None:
    assert Op("put", 0, "int") == Op("put", 0, "int", 9)
    assert Op("put", 0, "tuple").vsize == 25
    assert Op("put", 0, "str").vsize == 9
    assert Op("get", 3).vsize == 0


@pytest.mark.parametrize(
    ("schedule", "message"),
    [
        (Schedule(keys=(1,), threads=((Op("get", 9),),)), r"threads\[0\]\[0\]\.key = 9 but"),
        (
            Schedule(keys=tuple(range(8)), threads=((), (Op("get", 0),) * 4 + (Op("get", 9),))),
            r"threads\[1\]\[4\]\.key = 9 but there are 8 keys",
        ),
        (Schedule(keys=(1,), threads=((Op("frob"),),)), r"threads\[0\]\[0\]\.kind = 'frob'"),
        (Schedule(keys=(1,), threads=((Op("put", 0, "list"),),)), r"vtype = 'list'"),
        (Schedule(keys=(1,), threads=((Op("put", 0, "str", 20),),)), r"vsize = 20: str"),
        (Schedule(keys=(1,), threads=((Op("get", 0, "int"),),)), r"get writes no value"),
        (Schedule(keys=(1,), threads=((Op("len", 1),),)), r"len takes no key"),
        (Schedule(keys=(1,), prefill=(Op("get", 0),)), r"prefill\[0\]\.kind = 'get'"),
        (Schedule(keys=(1, 1)), r"keys\[1\] = int:1 repeats keys\[0\]"),
        (Schedule(keys=("x" * 40,)), r"keys\[0\]"),
        (Schedule(keys=()), r"keys: 0 keys"),
        (Schedule(keys=(1,), threads=()), r"threads: 0 threads"),
        (Schedule(keys=(1,), threads=((),) * 17), r"threads: 17 threads"),
        (Schedule(keys=(1,), threads=((Op("len"),) * 257,)), r"threads\[0\]: 257 ops"),
        (Schedule(keys=(1,), prefill=(Op("put", 0, "int"),) * (MAX_PREFILL + 1)),
         rf"prefill: {MAX_PREFILL + 1} ops"),
        (Schedule(MapConfig(capacity=-1), keys=(1,)), r"config\.capacity = -1"),
        (Schedule(MapConfig(hash_seed=1 << 64), keys=(1,)), r"config\.hash_seed"),
        (Schedule(MapConfig(target=""), keys=(1,)), r"config\.target"),
    ],
)
def test_validate_names_the_problem(schedule: Schedule, message: str) -> None:
    with pytest.raises(ScheduleError, match=message):
        schedule.validate()


def test_limits_accepted() -> None:
    keys = tuple(range(MAX_KEYS))
    s = Schedule(
        MapConfig(hash_seed=(1 << 64) - 1, capacity=MAX_CAPACITY),
        keys,
        (Op("put", 63, "bytes", 256),) * MAX_PREFILL,
        ((Op("put_if_absent", 1, "float"),) * MAX_OPS,) * MAX_THREADS,
    )
    s.validate()
    assert from_json(to_json(s)) == s
    # the byte form keeps its own, narrower limits and refuses more
    with pytest.raises(ScheduleError, match="byte form holds at most 64 keys"):
        encode_bytes(s)
    small = Schedule(s.config, keys[:BYTES_MAX_KEYS],
                     (Op("put", 63, "bytes", 256),) * BYTES_MAX_PREFILL, s.threads)
    assert decode_bytes(encode_bytes(small), small.config) == small


# ---- JSON ------------------------------------------------------------------------


def test_json_form_is_readable() -> None:
    j = to_json(small())
    assert j["format"] == FORMAT
    assert j["keys"] == [{"int": 42}, {"str": "42"}, {"bytes": "3432"}]
    assert j["threads"][0] == [["get", 0], ["put", 1, "str", 12]]
    assert j["threads"][1] == [["delete", 2], ["iterate"], ["len"]]
    assert j["prefill"] == [["put", 0, "int"]]
    text = dumps(small())
    assert json.loads(text) == j
    assert '    ["put", 1, "str", 12]' in text  # one op per line


@given(schedules())
def test_json_round_trip(s: Schedule) -> None:
    assert from_json(to_json(s)) == s
    assert from_json(json.loads(json.dumps(to_json(s)))) == s
    assert loads(dumps(s)) == s


def _mutate(change: dict[str, Any]) -> dict[str, Any]:
    j = to_json(small())
    for path, v in change.items():
        *parents, last = path.split(".")
        d: Any = j
        for p in parents:
            d = d[int(p)] if isinstance(d, list) else d[p]
        if v is _DEL:
            del d[last]
        elif isinstance(d, list):
            d[int(last)] = v
        else:
            d[last] = v
    return j


_DEL = object()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"format": _DEL}, r"format: missing"),
        ({"format": "mapfuzz-schedule/2"}, r"version 'mapfuzz-schedule/2' not supported"),
        ({"format": "something"}, r"not a mapfuzz schedule"),
        ({"keys": _DEL}, r"keys: need a list"),
        ({"keys.0": {"float": 1.5}}, r"keys\[0\]"),
        ({"keys.2": {"bytes": "zz"}}, r"keys\[2\]\.bytes = 'zz' is not hex"),
        ({"threads.1.0": ["frob", 1]}, r"threads\[1\]\[0\]: unknown op 'frob'"),
        ({"threads.1.0": ["delete", 7]}, r"threads\[1\]\[0\]\.key = 7 but there are 3 keys"),
        ({"threads.1.0": ["delete"]}, r"threads\[1\]\[0\] = \['delete'\]: delete takes"),
        ({"threads.0.1": ["put", 1, "str", "x"]}, r"threads\[0\]\[1\]: value size 'x'"),
        ({"threads.0.1": ["put", 1, "set"]}, r"threads\[0\]\[1\]: value type 'set'"),
        ({"threads.0": "get"}, r"threads\[0\]: need a list of ops"),
        ({"prefill.0": ["get", 0]}, r"prefill\[0\]\.kind = 'get'"),
        ({"config.capacity": "big"}, r"config\.capacity = 'big'"),
        ({"config.colour": 1}, r"config: unknown field\(s\) colour"),
        ({"extra": 1}, r"schedule: unknown field\(s\) extra"),
    ],
)
def test_from_json_errors(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ScheduleError, match=message):
        from_json(_mutate(change))


def test_from_json_not_an_object() -> None:
    with pytest.raises(ScheduleError, match="need a JSON object"):
        from_json([1, 2])
    with pytest.raises(ScheduleError, match="not JSON"):
        loads("{")


def test_config_defaults() -> None:
    j = to_json(small())
    j["config"] = {}
    assert from_json(j).config == MapConfig()


# ---- bytes -----------------------------------------------------------------------


@given(schedules(max_threads=16, max_ops=40, max_prefill=40))
def test_byte_round_trip(s: Schedule) -> None:
    assert decode_bytes(encode_bytes(s), s.config) == s


@settings(max_examples=500)
@given(st.binary(max_size=600))
def test_decode_bytes_total(data: bytes) -> None:
    s = decode_bytes(data)
    s.validate()
    # the canonical form decodes to the same schedule
    assert decode_bytes(encode_bytes(s)) == s


@given(st.binary(max_size=200), st.binary(max_size=50))
def test_trailing_bytes_ignored(data: bytes, tail: bytes) -> None:
    s = decode_bytes(data)
    enc = encode_bytes(s)
    assert decode_bytes(enc + tail) == s


def test_decode_takes_target_from_config() -> None:
    s = decode_bytes(b"\x01\x02", MapConfig("other", "torn", 1, 1))
    assert s.config.target == "other" and s.config.variant == "torn"
    assert decode_bytes(b"").config == MapConfig(capacity=0)
    assert decode_bytes(b"").keys == (0,)


def test_byte_form_is_compact() -> None:
    s = small()
    assert len(encode_bytes(s)) < 40
