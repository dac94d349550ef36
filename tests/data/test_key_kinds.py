"""The named integer key kind (``MyInt``, tag ``m``): its encoding, JSON and byte
forms, display, the generators and strategies that draw it, and its "type twins"
(int 42, MyInt(42), "42", b"42": four keys)."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.data.schedule import (
    MapConfig,
    Op,
    Schedule,
    ScheduleError,
    decode_bytes,
    encode_bytes,
    from_json,
    key_from_json,
    key_to_json,
    to_json,
)
from harness.data.values import (
    KEY_TYPES,
    MyInt,
    decode_key,
    encode_key,
    format_key,
    key_label,
    key_type,
)
from harness.search.generate import GenConfig, generate
from harness.strategies import keys, schedules, type_twins

INT64 = st.integers(-(1 << 63), (1 << 63) - 1)


def test_encoding_is_its_own_tag_then_the_int_payload() -> None:
    assert encode_key(MyInt(42)) == b"m" + (42).to_bytes(8, "little", signed=True)
    assert encode_key(MyInt(42))[1:] == encode_key(42)[1:]
    assert decode_key(encode_key(MyInt(-1))) == MyInt(-1)
    assert key_type(MyInt(3)) == "myint" and "myint" in KEY_TYPES
    assert format_key(MyInt(42)) == "myint:42" and repr(MyInt(42)) == "MyInt(42)"
    assert key_label(encode_key(MyInt(7))) == "myint:7"
    assert MyInt(42) != 42 and hash(MyInt(42)) == hash(MyInt(42))


@pytest.mark.parametrize("bad", [MyInt(1 << 63), MyInt(-(1 << 63) - 1), MyInt(True),
                                 MyInt("42")])  # type: ignore[arg-type]
def test_out_of_range_or_mistyped_is_refused(bad: MyInt) -> None:
    with pytest.raises(ValueError, match="MyInt"):
        encode_key(bad)


def test_decode_refuses_a_short_payload() -> None:
    with pytest.raises(ValueError):
        decode_key(b"m\x01\x02")


@given(type_twins())
def test_twins_are_four_keys_in_every_form(twins: tuple[object, ...]) -> None:
    encoded = {encode_key(k) for k in twins}  # type: ignore[arg-type]
    assert len(encoded) == 4
    assert len({format_key(k) for k in twins}) == 4  # type: ignore[arg-type]
    assert {key_type(k) for k in twins} == {"int", "myint", "str", "bytes"}  # type: ignore[arg-type]
    for k in twins:
        assert decode_key(encode_key(k)) == k  # type: ignore[arg-type]
        assert key_from_json(key_to_json(k), "k") == k  # type: ignore[arg-type]


@given(INT64)
def test_json_round_trip(n: int) -> None:
    assert key_to_json(MyInt(n)) == {"myint": n}
    assert key_from_json({"myint": n}, "keys[0]") == MyInt(n)


def test_json_refuses_a_non_int_payload() -> None:
    with pytest.raises(ScheduleError, match="myint"):
        key_from_json({"myint": "42"}, "keys[0]")
    with pytest.raises(ScheduleError, match="myint"):
        key_from_json({"myint": True}, "keys[0]")


def _twin_schedule() -> Schedule:
    keys4 = (42, MyInt(42), "42", b"42")
    return Schedule(MapConfig(), keys4, tuple(Op("put", i, "int") for i in range(4)),
                    ((*(Op("get", i) for i in range(4)), Op("len")),))


def test_schedule_json_and_bytes_round_trip_with_twins() -> None:
    s = _twin_schedule().validate()
    assert from_json(to_json(s)) == s
    assert to_json(s)["keys"][1] == {"myint": 42}
    assert decode_bytes(encode_bytes(s), s.config) == s


@given(schedules())
def test_byte_codec_round_trips_any_schedule(s: Schedule) -> None:
    assert decode_bytes(encode_bytes(s), s.config) == s


@given(st.binary(max_size=64))
def test_byte_decoding_stays_total(data: bytes) -> None:
    decode_bytes(data).validate()


def test_byte_header_3_is_a_myint() -> None:
    # header: 1 thread, 1 key, capacity 0, hash seed 0 (8 bytes), no prefill;
    # key header 0xC1 = type 3 (myint), one payload byte
    data = bytes([0, 0, 0]) + bytes(8) + bytes([0, 0xC1, 0x2A])
    assert decode_bytes(data).keys == (MyInt(42),)


def test_keys_strategy_draws_myint() -> None:
    seen: list[object] = []

    @given(keys())
    def collect(k: object) -> None:
        seen.append(k)

    collect()
    assert any(isinstance(k, MyInt) for k in seen)


def test_generator_draws_myint_twins_of_other_keys() -> None:
    """Over a few schedules, the generator draws MyInt keys, and MyInt keys whose
    payload another key of the same schedule has under another type."""
    cfg = GenConfig(type_twins=0.5)
    twins = 0
    myints = 0
    for seed in range(60):
        s = generate(random.Random(seed), cfg, MapConfig())
        payloads: dict[str, set[str]] = {}
        for k in s.keys:
            payloads.setdefault(_payload(k), set()).add(key_type(k))
        myints += sum(isinstance(k, MyInt) for k in s.keys)
        twins += sum(1 for types in payloads.values() if "myint" in types and len(types) > 1)
    assert myints > 0 and twins > 0


def _payload(k: object) -> str:
    if isinstance(k, MyInt):
        return str(k.value)
    if isinstance(k, bytes):
        return k.decode("latin-1")
    return str(k)
