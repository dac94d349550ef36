"""Self-checking values and typed keys (harness/data/values.py)."""

from __future__ import annotations

import itertools
import math
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.data.values import (
    ALPHABET,
    MAX_SEQ,
    PREFILL_WRITER,
    SIZE_RANGES,
    TAGS,
    VALUE_TYPES,
    check_value,
    decode_key,
    decode_value,
    describe_value,
    encode_key,
    key_label,
    make_value,
    writer_label,
)

WRITES = [(0, 1), (0, 2), (1, 1), (1, 2), (15, MAX_SEQ), (PREFILL_WRITER, 1), (3, 7)]


def sizes(vtype: str) -> list[int]:
    lo, hi = SIZE_RANGES[vtype]
    if vtype == "bytes":
        return [16, 17, 23, 24, 25, 31, 32, 33, 64, 100, 255, 256]
    return list(range(lo, hi + 1))


ALL_SIZES = [(t, n) for t in VALUE_TYPES for n in sizes(t)]


def assert_torn(mix: bytes, *valid: bytes) -> None:
    if mix in valid:
        return
    assert check_value(mix) is None, (mix.hex(), [v.hex() for v in valid])


# ---- round trip ----------------------------------------------------------------


@pytest.mark.parametrize(("vtype", "size"), ALL_SIZES)
def test_round_trip(vtype: str, size: int) -> None:
    for writer, seq in WRITES:
        v = make_value(vtype, size, writer, seq)
        assert len(v) == size
        assert v[:1] == TAGS[vtype]
        assert check_value(v) == (writer, seq)
        assert describe_value(v) == f"{vtype} from {writer_label(writer, seq)}"


@given(
    st.sampled_from(VALUE_TYPES),
    st.data(),
    st.integers(0, PREFILL_WRITER),
    st.integers(1, MAX_SEQ),
)
def test_round_trip_any(vtype: str, data: st.DataObject, writer: int, seq: int) -> None:
    lo, hi = SIZE_RANGES[vtype]
    size = data.draw(st.integers(lo, hi))
    v = make_value(vtype, size, writer, seq)
    assert check_value(v) == (writer, seq)


def test_default_size_and_bad_arguments() -> None:
    assert len(make_value("str", 0, 0, 1)) == 9
    assert len(make_value("bytes", 0, 0, 1)) == 16
    with pytest.raises(ValueError, match="unknown value type"):
        make_value("list", 9, 0, 1)
    with pytest.raises(ValueError, match=r"bytes values are 16\.\.256"):
        make_value("bytes", 300, 0, 1)
    with pytest.raises(ValueError, match="writer 17"):
        make_value("int", 9, 17, 1)
    with pytest.raises(ValueError, match="seq 0"):
        make_value("int", 9, 0, 0)


def test_renderings() -> None:
    i = decode_value(make_value("int", 9, 1, 3))
    assert isinstance(i, int)
    f = decode_value(make_value("float", 9, 1, 3))
    assert isinstance(f, float) and math.isfinite(f) and f != 0.0
    s = decode_value(make_value("str", 12, 1, 3))
    assert isinstance(s, str) and len(s) == 11 and s.isprintable()
    assert all(c in ALPHABET.decode() for c in s)
    b = decode_value(make_value("bytes", 40, 1, 3))
    assert isinstance(b, bytes) and len(b) == 39
    t = decode_value(make_value("tuple", 25, 1, 3))
    assert isinstance(t, tuple) and len(t) == 3
    assert decode_value(b"zz") == b"zz"
    assert describe_value(b"i" + b"\xa5" * 8) == "torn 9 bytes: 69a5a5a5a5a5a5a5a5"


def test_floats_are_finite_normal() -> None:
    for writer in range(PREFILL_WRITER + 1):
        for seq in range(1, 200):
            f = decode_value(make_value("float", 9, writer, seq))
            assert isinstance(f, float)
            assert math.isfinite(f) and abs(f) > 2.2250738585072014e-308


# ---- uniqueness ------------------------------------------------------------------


def test_unique_over_writers_and_seqs() -> None:
    for vtype, size in [("int", 9), ("float", 9), ("str", 9), ("bytes", 16), ("tuple", 25)]:
        seen: set[bytes] = set()
        for writer in range(PREFILL_WRITER + 1):
            for seq in range(1, 1025):
                seen.add(make_value(vtype, size, writer, seq))
        assert len(seen) == (PREFILL_WRITER + 1) * 1024


def test_unique_across_types_and_sizes() -> None:
    vals = [make_value(t, n, 2, 5) for t, n in ALL_SIZES]
    assert len(set(vals)) == len(vals)


# ---- torn values -----------------------------------------------------------------


@pytest.mark.parametrize(("vtype", "size"), ALL_SIZES)
def test_torn_same_type_and_length(vtype: str, size: int) -> None:
    vals = [make_value(vtype, size, w, s) for w, s in WRITES]
    for a, b in itertools.permutations(vals, 2):
        # every split point: prefix of a + suffix of b
        for p in range(1, size):
            assert_torn(a[:p] + b[p:], a, b)
        # every single byte taken from the other write
        for p in range(size):
            assert_torn(a[:p] + b[p : p + 1] + a[p + 1 :], a, b)
        # every single 8-byte word, aligned on the value and on the payload
        for start in itertools.chain(range(0, size, 8), range(1, size, 8)):
            assert_torn(a[:start] + b[start : start + 8] + a[start + 8 :], a, b)
        # every other byte from the other write (a fine-grained interleaving)
        assert_torn(
            bytes(x if i % 2 else y for i, (x, y) in enumerate(zip(a, b, strict=True))), a, b
        )


@pytest.mark.parametrize("vtype", ["str", "bytes"])
def test_torn_different_lengths(vtype: str) -> None:
    lens = sizes(vtype)
    for la, lb in itertools.permutations(lens, 2):
        for wa, wb in [((1, 1), (2, 1)), ((1, 1), (1, 1)), ((0, 5), (0, 6))]:
            a = make_value(vtype, la, *wa)
            b = make_value(vtype, lb, *wb)
            # a's bytes with b's length (the copy used the other write's length)
            mix = a[:lb] if lb <= la else a + b[la:]
            assert_torn(mix, a, b)
            # prefix of a, rest of b (length of b)
            for p in range(1, min(la, lb)):
                assert_torn(a[:p] + b[p:], a, b)


@pytest.mark.parametrize(("vtype", "size"), ALL_SIZES)
def test_truncated_and_extended(vtype: str, size: int) -> None:
    for writer, seq in WRITES[:3]:
        v = make_value(vtype, size, writer, seq)
        for n in range(size):
            assert check_value(v[:n]) is None
        for pad in (b"\x00", b"\xa5", v[-1:]):
            assert check_value(v + pad) is None


@pytest.mark.parametrize("tag", [t[0] for t in TAGS.values()])
def test_poisoned(tag: int) -> None:
    for n in range(1, 258):
        for fill in (0xA5, 0x00, 0xFF, 0x5A):
            assert check_value(bytes([tag]) + bytes([fill]) * (n - 1)) is None


def test_cross_type_tag_swap() -> None:
    for t, n in ALL_SIZES:
        v = make_value(t, n, 4, 4)
        for other in TAGS.values():
            if other != TAGS[t]:
                assert check_value(other + v[1:]) is None


def test_poisoned_tail_of_valid_value() -> None:
    # freed memory behind a value copied partly before the free
    for t, n in ALL_SIZES:
        v = make_value(t, n, 6, 9)
        for p in range(1, n):
            for fill in (0xA5, 0x00):
                assert_torn(v[:p] + bytes([fill]) * (n - p), v)


def test_int_and_tuple_words_are_identity() -> None:
    # the int's word is id + check; tuple words repeat the id with their own check
    v = make_value("tuple", 25, 2, 9)
    w0, w1, w2 = struct.unpack("<3Q", v[1:])
    assert w0 & 0xFFFFFF == w1 & 0xFFFFFF == w2 & 0xFFFFFF == (2 << 16 | 9)
    assert len({w0, w1, w2}) == 3


# ---- keys ------------------------------------------------------------------------


def test_key_types_are_distinct() -> None:
    ks = [encode_key(42), encode_key("42"), encode_key(b"42")]
    assert len(set(ks)) == 3
    assert [key_label(k) for k in ks] == ["int:42", "str:'42'", "bytes:3432"]
    assert [decode_key(k) for k in ks] == [42, "42", b"42"]


@given(
    st.one_of(
        st.integers(-(1 << 63), (1 << 63) - 1),
        st.text(max_size=31).filter(lambda s: len(s.encode()) <= 31),
        st.binary(max_size=31),
    )
)
def test_key_round_trip(k: int | str | bytes) -> None:
    b = encode_key(k)
    assert len(b) <= 32
    assert decode_key(b) == k
    assert type(decode_key(b)) is type(k)


def test_key_limits() -> None:
    with pytest.raises(ValueError, match="64 bits"):
        encode_key(1 << 63)
    with pytest.raises(ValueError, match="max 31"):
        encode_key("x" * 32)
    with pytest.raises(ValueError, match="max 31"):
        encode_key(b"x" * 32)
    with pytest.raises(ValueError, match="bool"):
        encode_key(True)
    with pytest.raises(ValueError):
        decode_key(b"i123")
    with pytest.raises(ValueError):
        decode_key(b"s\xff")
    assert key_label(b"q12") == "raw:713132"
    assert key_label(b"") == "raw:"
