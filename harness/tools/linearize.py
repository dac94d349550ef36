"""How far one key's operations can be put in a sequential order: the linearization
attempt the report shows next to a violation (Porcupine shows the same: the longest
partial linearization, and the operations that cannot come next).

This is a display, not a verdict: the oracle (harness.oracle) decides, and it never
reads this. For the key of a violation, a depth-first search in the style of Wing &
Gong / Lowe (memoised on the set of operations placed and the register's value) looks
for the longest prefix of a sequential order that respects real time (an operation
can come next only when no unplaced operation returned before it was called) and the
register's rules (a read returns the value held; a put that replaced something needs a
value there; ...). It reports that prefix, the value it leaves, and for each operation
that could come next in time why the register refuses it. Operations that never
returned may take effect or not (a pending read is ignored). The search is bounded;
when the bound runs out it says so.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.data.history import TORN, History, Operation

DEFAULT_BUDGET = 50_000
"""Search steps before the attempt stops (it then reports the best prefix so far)."""


@dataclass(frozen=True, slots=True)
class Attempt:
    key: str
    ops: tuple[int, ...]
    """The key's operations (indices into history.ops) the search considered."""
    order: tuple[int, ...]
    """The longest prefix of a sequential order found."""
    held: int | None
    """The register's value after ``order`` (a value id; None: absent)."""
    stuck: tuple[tuple[int, str], ...]
    """Operations that could come next in real time, each with why it cannot."""
    complete: bool
    """Every completed operation was placed: this key alone is linearizable."""
    exhausted: bool
    """The step bound ran out: ``order`` is the best found, not necessarily the longest."""
    steps: int


def _label(h: History, vid: int | None) -> str:
    if vid is None:
        return "absent"
    return "torn bytes" if vid == TORN else h.values[vid].label


def _step(h: History, op: Operation, held: int | None) -> tuple[bool, int | None, str]:
    """(allowed, value after, why not) for ``op`` applied to a register holding ``held``."""
    got, now = op.out, _label(h, held)
    if op.status == "error":
        return True, held, ""
    if got == TORN:
        return False, held, "it returned torn bytes, which no write produced"
    if op.kind == "get":
        if op.status == "found":
            if got != held:
                return False, held, f"it returned {_label(h, got)}, but the map held {now}"
            return True, held, ""
        return (held is None, held, f"it found the key absent, but the map held {now}")
    if op.kind in ("put", "put_if_absent") and op.status == "inserted":
        return (held is None, op.arg, f"it inserted, but the map already held {now}")
    if op.kind == "put":  # replaced
        if held is None:
            return False, held, "it replaced a value, but the key was absent"
        if got is not None and got != held:
            return False, held, f"it replaced {_label(h, got)}, but the map held {now}"
        return True, op.arg, ""
    if op.kind == "put_if_absent":  # present
        if held is None:
            return False, held, "it found a value present, but the key was absent"
        if got is not None and got != held:
            return False, held, f"it saw {_label(h, got)} present, but the map held {now}"
        return True, held, ""
    if op.kind == "delete":
        if op.status == "removed":
            if held is None:
                return False, held, "it removed a value, but the key was absent"
            if got is not None and got != held:
                return False, held, f"it removed {_label(h, got)}, but the map held {now}"
            return True, None, ""
        return (held is None, held, f"it found the key absent, but the map held {now}")
    return True, held, ""


def attempt(history: History, key: str, budget: int = DEFAULT_BUDGET) -> Attempt | None:
    """The linearization attempt for ``key`` (None when no operation names it)."""
    try:
        k = history.keys.index(key)
    except ValueError:
        return None
    ops = tuple(i for i, o in enumerate(history.ops)
                if o.key == k and o.kind in ("get", "put", "put_if_absent", "delete")
                and not (o.ret is None and o.kind == "get"))
    required = frozenset(i for i in ops if history.ops[i].ret is not None)
    best: tuple[tuple[int, ...], int | None] = ((), None)
    seen: set[tuple[frozenset[int], int | None]] = set()
    steps = 0
    exhausted = False

    def candidates(placed: frozenset[int]) -> list[int]:
        """Unplaced operations no unplaced completed operation precedes in real time."""
        rest = [i for i in ops if i not in placed]
        deadline = min((r for i in rest if (r := history.ops[i].ret) is not None),
                       default=None)
        return [i for i in rest if deadline is None or history.ops[i].call <= deadline]

    def dfs(order: tuple[int, ...], placed: frozenset[int], held: int | None) -> bool:
        nonlocal best, steps, exhausted
        if len([i for i in order if i in required]) > len([i for i in best[0] if i in required]):
            best = (order, held)
        if required <= placed:
            best = (order, held)
            return True
        if (placed, held) in seen:
            return False
        seen.add((placed, held))
        for i in candidates(placed):
            steps += 1
            if steps > budget:
                exhausted = True
                return False
            ok, after, _ = _step(history, history.ops[i], held)
            if ok and dfs((*order, i), placed | {i}, after):
                return True
            if history.ops[i].ret is None and dfs(order, placed | {i}, held):  # never took effect
                return True
        return False

    complete = dfs((), frozenset(), None)
    order, held = best
    stuck: list[tuple[int, str]] = []
    if not complete:
        placed = frozenset(order)
        for i in candidates(placed):
            ok, _, why = _step(history, history.ops[i], held)
            if not ok:
                stuck.append((i, why))
    return Attempt(key, ops, order, held, tuple(stuck), complete, exhausted, steps)
