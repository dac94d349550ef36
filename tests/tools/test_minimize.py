"""The generic shrinker: deterministic progress to a fixpoint, behind (initial, predicate)."""

from __future__ import annotations

from collections.abc import Iterator

from harness.tools.minimize import Pass, chunk_deletions, shrink


def deletions(xs: tuple[int, ...]) -> Iterator[tuple[int, ...]]:
    yield from chunk_deletions(xs)


def smaller_values(xs: tuple[int, ...]) -> Iterator[tuple[int, ...]]:
    for i, x in enumerate(xs):
        if x > 0:
            yield (*xs[:i], x // 2, *xs[i + 1 :])


def length_then_sum(xs: tuple[int, ...]) -> tuple[int, ...]:
    return (len(xs), sum(xs))


PASSES = (Pass("delete", deletions), Pass("halve", smaller_values))


def test_shrinks_to_the_two_elements_the_predicate_needs() -> None:
    def has_3_and_7(xs: tuple[int, ...]) -> tuple[int, ...] | None:
        return xs if 3 in xs and 7 in xs else None

    res = shrink(tuple(range(20)), has_3_and_7, PASSES, length_then_sum)
    assert res.value == (3, 7)
    assert not res.exhausted
    assert res.accepted["delete"] >= 1


def test_values_shrink_too_and_the_result_is_a_fixpoint() -> None:
    def big_sum(xs: tuple[int, ...]) -> tuple[int, ...] | None:
        return xs if sum(xs) >= 10 else None

    res = shrink((40, 3, 50), big_sum, PASSES, length_then_sum)
    assert len(res.value) == 1 and 10 <= res.value[0] < 20
    again = shrink(res.value, big_sum, PASSES, length_then_sum)
    assert again.value == res.value and not again.accepted


def test_same_input_same_result_and_same_calls() -> None:
    def pred(xs: tuple[int, ...]) -> tuple[int, ...] | None:
        return xs if sum(x % 5 for x in xs) >= 7 else None

    a = shrink(tuple(range(30)), pred, PASSES, length_then_sum)
    b = shrink(tuple(range(30)), pred, PASSES, length_then_sum)
    assert a.value == b.value and a.calls == b.calls


def test_predicate_called_once_per_candidate() -> None:
    seen: list[tuple[int, ...]] = []

    def pred(xs: tuple[int, ...]) -> tuple[int, ...] | None:
        seen.append(xs)
        return xs if 5 in xs else None

    shrink(tuple(range(12)), pred, PASSES, length_then_sum)
    assert len(seen) == len(set(seen))


def test_an_answer_that_is_not_smaller_is_rejected() -> None:
    # the "canonical form" the predicate returns is bigger than the current input:
    # accepting it could loop forever, so the shrinker keeps what it has
    def inflate(xs: tuple[int, ...]) -> tuple[int, ...] | None:
        return (*xs, *(0,) * 10)

    res = shrink((1, 2, 3), inflate, PASSES, length_then_sum)
    assert res.value == (1, 2, 3)


def test_call_budget_keeps_the_best_so_far() -> None:
    def pred(xs: tuple[int, ...]) -> tuple[int, ...] | None:
        return xs if 0 in xs else None

    res = shrink(tuple(range(64)), pred, PASSES, length_then_sum, max_calls=3)
    assert res.exhausted and res.calls == 3
    assert 0 in res.value and len(res.value) <= 64


def test_chunk_deletions_halves_first_then_single_elements() -> None:
    out = list(chunk_deletions((1, 2, 3, 4)))
    assert out[0] == ()
    assert out[1:3] == [(1, 2), (3, 4)]
    assert {(1, 2, 3), (1, 2, 4), (1, 3, 4), (2, 3, 4)} <= set(out)
    assert len(out) == len(set(out))
    odd = list(chunk_deletions((1, 2, 3)))
    assert {(1, 2), (1, 3), (2, 3), ()} <= set(odd)
    assert list(chunk_deletions(())) == []
