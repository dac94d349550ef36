"""A generic shrinker: an initial input, a predicate, and passes that propose smaller inputs.

The shrinker knows nothing about schedules, threads or runners (``harness.tools.tmin``
supplies those): it holds the smallest input that still satisfies the predicate
and asks each pass, in turn, for candidates derived from it.

Contract
--------
* ``predicate(candidate)`` returns ``None`` to reject, or the input to continue from:
  the candidate itself or a canonical form of it (tmin returns the candidate with
  the decision trace its run actually took). It must be deterministic for the
  result to be; the shrinker calls it at most once per distinct candidate (a cache
  keyed by the candidate, so candidates must be hashable).
* ``size(x)`` is a tuple compared lexicographically. A candidate is only tried when
  it is smaller than the current input, and a predicate's answer is only accepted
  when it is smaller too. Sizes are well-founded (tuples of naturals), so every
  accepted step is strict progress and the loop ends.
* A pass is ``current -> iterable of candidates`` in a fixed order, most ambitious
  first (drop half the list before dropping one element). After an accepted
  candidate the same pass restarts on the new input; when a pass has nothing left
  to offer the next one runs; the shrinker stops when a whole round of passes
  accepts nothing (a fixpoint), or when the budget runs out.

Determinism: the same initial input, passes and predicate give the same result,
unless the budget (calls or seconds) cuts the search short; ``Result.exhausted``
says so.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T", bound=Hashable)
E = TypeVar("E")

Size = tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Pass(Generic[T]):
    """A named source of candidates derived from the current input."""

    name: str
    candidates: Callable[[T], Iterable[T]]


@dataclass(slots=True)
class Result(Generic[T]):
    value: T
    calls: int = 0
    """Predicate calls made (cache hits and skipped non-smaller candidates excluded)."""
    accepted: dict[str, int] = field(default_factory=dict)
    """Accepted candidates per pass name."""
    rounds: int = 0
    exhausted: bool = False
    """True when the budget ran out before a fixpoint (the result may not be minimal)."""


def shrink(
    initial: T,
    predicate: Callable[[T], T | None],
    passes: Sequence[Pass[T]],
    size: Callable[[T], Size],
    *,
    max_calls: int | None = None,
    seconds: float | None = None,
) -> Result[T]:
    """Shrink ``initial`` (which must satisfy ``predicate``) to a fixpoint of ``passes``."""
    deadline = None if seconds is None else time.monotonic() + seconds
    cache: dict[T, T | None] = {}
    result: Result[T] = Result(initial)
    current = initial

    def out_of_budget() -> bool:
        if max_calls is not None and result.calls >= max_calls:
            return True
        return deadline is not None and time.monotonic() >= deadline

    progress = True
    while progress:
        progress = False
        result.rounds += 1
        for p in passes:
            restart = True
            while restart:
                restart = False
                here = size(current)
                for cand in p.candidates(current):
                    if size(cand) >= here:
                        continue
                    if cand in cache:
                        answer = cache[cand]
                    else:
                        if out_of_budget():
                            result.value = current
                            result.exhausted = True
                            return result
                        result.calls += 1
                        answer = cache[cand] = predicate(cand)
                    if answer is not None and size(answer) < here:
                        current = answer
                        result.accepted[p.name] = result.accepted.get(p.name, 0) + 1
                        progress = restart = True
                        break
    result.value = current
    return result


def chunk_deletions(items: Sequence[E]) -> Iterator[tuple[E, ...]]:
    """``items`` with one contiguous chunk removed: chunks of len/2, len/4, ... 1
    (delta debugging's complement step), each size from the back to the front.

    Trailing chunks first, because later operations depend on earlier ones more
    often than the reverse, so they are likelier to be removable."""
    n = len(items)
    k = n
    seen: set[tuple[int, int]] = set()
    while k >= 1:
        start = n - k
        while start >= 0:
            if (start, k) not in seen:
                seen.add((start, k))
                yield tuple(items[:start]) + tuple(items[start + k :])
            start -= k
        if start + k > 0:  # a leftover head shorter than k
            head = start + k
            if (0, head) not in seen:
                seen.add((0, head))
                yield tuple(items[head:])
        k //= 2


__all__ = ["Pass", "Result", "Size", "chunk_deletions", "shrink"]
