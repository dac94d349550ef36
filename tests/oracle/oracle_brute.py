"""Brute-force linearizability for small histories (test reference, not for production).

Tries every order of the operations that respects real time (a before b when
a.ret < b.call), running each operation as one atomic step on a plain dict and
checking that it returns what was recorded. Operations that never returned
(ret None) may be left out or placed anywhere after their call; a pending get is
ignored. Only get/put/put_if_absent/delete are modelled. Memoised on
(placed set, map state) to stay fast at ~10 operations; the memo never changes the
answer because the future depends only on those two.
"""

from __future__ import annotations

from harness.data.history import History, Operation

Absent = None
State = tuple[tuple[int, int], ...]


def _step(op: Operation, state: dict[int, int]) -> bool | None:
    """Apply ``op`` to ``state`` in place if its recorded result is possible there.

    Returns True when applied, False when its recorded result is impossible.
    A pending op (ret None) returns what it would do without a result check.
    """
    assert op.key is not None
    cur = state.get(op.key, Absent)
    pending = op.ret is None
    if op.kind == "get":
        if op.status == "found":
            return cur is not Absent and cur == op.out
        return cur is Absent
    if op.kind == "put":
        assert op.arg is not None
        if not pending:
            if op.status == "inserted" and cur is not Absent:
                return False
            if op.status == "replaced":
                if cur is Absent:
                    return False
                if op.out is not None and op.out != cur:
                    return False
        state[op.key] = op.arg
        return True
    if op.kind == "put_if_absent":
        assert op.arg is not None
        if pending:
            if cur is Absent:
                state[op.key] = op.arg
            return True
        if op.status == "inserted":
            if cur is not Absent:
                return False
            state[op.key] = op.arg
            return True
        if cur is Absent:
            return False
        return op.out is None or op.out == cur
    if op.kind == "delete":
        if pending:
            state.pop(op.key, None)
            return True
        if op.status == "removed":
            if cur is Absent:
                return False
            if op.out is not None and op.out != cur:
                return False
            del state[op.key]
            return True
        return cur is Absent
    raise ValueError(f"brute force does not model {op.kind}")


def brute_linearizable(history: History) -> bool:
    ops = [
        op
        for op in history.ops
        if op.kind in ("get", "put", "put_if_absent", "delete")
        and not (op.kind == "get" and op.ret is None)
    ]
    n = len(ops)
    required = [op.ret is not None for op in ops]
    seen: set[tuple[int, State]] = set()

    def rec(placed: int, state: dict[int, int]) -> bool:
        if all((placed >> i) & 1 or not required[i] for i in range(n)):
            return True
        memo = (placed, tuple(sorted(state.items())))
        if memo in seen:
            return False
        seen.add(memo)
        for i in range(n):
            if (placed >> i) & 1:
                continue
            op = ops[i]
            # op may go next only if no unplaced completed op returned before it began
            if any(
                not (placed >> j) & 1
                and j != i
                and ops[j].ret is not None
                and ops[j].ret < op.call  # type: ignore[operator]
                for j in range(n)
            ):
                continue
            new = dict(state)
            if _step(op, new) and rec(placed | (1 << i), new):
                return True
        return False

    return rec(0, {})
