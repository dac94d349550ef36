"""Iteration and len rules.

* Each yielded (key, value) is a read of that key over the iterate's interval, checked
  with the key's other operations (torn, phantom, stale... as for a get).
* duplicate-key: one iterate yields a key twice while no delete of it overlaps the
  iterate (a delete and re-insert during iteration might legitimately show it again).
* missing-key: a key *surely present* over the whole window is not yielded.
* phantom-value: a key no operation named is yielded, or (quiescent phase) a key the
  post-phase get found absent.
* len-mismatch: len outside [surely present, possibly present] over its window; in the
  quiescent phase it must equal the count of keys present. In the parallel phase len is
  checked only when the target promises an exact len.

A key is surely present (absent) over [a, b] when no put/delete of it overlaps the
window (a pending one overlaps forever after its call) and, of those that returned
before a, some put began after every delete had returned (some delete began after
every put had returned, or there was no put). In the quiescent phase a post-phase get
decides it exactly. Iterates are not checked when the target does not allow iteration
during writes and some write overlaps the iterate.
"""

from __future__ import annotations

from collections.abc import Callable

from harness.data.history import History

from .classify import Namer
from .events import INF, NEG, Event, R
from .register import Finding
from .verdict import Violation

PRESENT, ABSENT, UNSURE = 1, 0, -1

FAST_PATHS = True
"""Count len's bounds in one inlined loop and answer the quiescent rules from the
post-phase gets directly (same answers as the general loops; tests compare them)."""


def _mutations(history: History) -> dict[int, list[tuple[int, int, bool]]]:
    """Per key: (start, finish or INF, is_put) of every op that may change it."""
    out: dict[int, list[tuple[int, int, bool]]] = {}
    for op in history.ops:
        k = op.key
        if k is None:
            continue
        kind = op.kind
        failed = op.ret is None or op.status == "error"
        f = INF if failed else op.ret
        assert f is not None
        if kind == "put" or (kind == "put_if_absent" and (failed or op.status == "inserted")):
            out.setdefault(k, []).append((op.call, f, True))
        elif kind == "delete" and (failed or op.status == "removed"):
            out.setdefault(k, []).append((op.call, f, False))
    return out


def _state(muts: list[tuple[int, int, bool]], a: int, b: int) -> int:
    p_s = p_f = d_s = d_f = NEG
    for s, f, is_put in muts:
        if s <= b and f >= a:
            return UNSURE
        if f < a:
            if is_put:
                p_s = max(p_s, s)
                p_f = max(p_f, f)
            else:
                d_s = max(d_s, s)
                d_f = max(d_f, f)
    if p_f == NEG or d_s > p_f:
        return ABSENT
    if p_s > d_f:
        return PRESENT
    return UNSURE


def _len_bounds(
    muts: dict[int, list[tuple[int, int, bool]]], known: list[bool], nkeys: int,
    a: int, b: int,
) -> tuple[int, int]:
    """(surely present, possibly present) over [a, b]: ``_state`` of every key, inlined."""
    lo = hi = 0
    for k in range(nkeys):
        if not known[k]:
            hi += 1
            continue
        ms = muts.get(k)
        if ms is None:
            continue  # never written: absent
        p_s = p_f = d_s = d_f = NEG
        for s, f, is_put in ms:
            if s <= b and f >= a:
                hi += 1
                break
            if f < a:
                if is_put:
                    if s > p_s:
                        p_s = s
                    if f > p_f:
                        p_f = f
                else:
                    if s > d_s:
                        d_s = s
                    if f > d_f:
                        d_f = f
        else:
            if p_f == NEG or d_s > p_f:
                continue
            if p_s > d_f:
                lo += 1
            hi += 1
    return lo, hi


def check_iteration(
    history: History,
    nm: Namer,
    per_key: dict[int, list[Event]],
    bad: dict[int, Finding],
    value_problem: Callable[[int, int, int], None],
) -> list[Violation]:
    ops = history.ops
    found: list[Violation] = []
    targets = [i for i, op in enumerate(ops)
               if op.kind in ("iterate", "len") and op.ret is not None and op.status != "error"]
    if not targets:
        return found
    muts = _mutations(history)
    qfrom = history.quiescent_from
    # post-phase gets decide presence exactly
    post: dict[int, int] = {}
    if qfrom is not None:
        for op in ops[qfrom:]:
            if op.kind == "get" and op.key is not None and op.ret is not None \
                    and op.status in ("found", "absent"):
                post[op.key] = PRESENT if op.status == "found" else ABSENT
    nkeys = len(history.keys)
    known = history.key_known
    post_absent = {k for k, st in post.items() if st == ABSENT}
    # the key each value was written for (None: no writer), for the value rule
    vown = [vi.key if vi.writer is not None else None for vi in history.values]
    nvals = len(vown)
    fast = FAST_PATHS
    # the quiescent answer for every key, when post-phase gets decided them all
    all_post = fast and all(k in post for k in range(nkeys) if known[k])
    post_present = sorted(k for k, st in post.items()
                          if st == PRESENT and 0 <= k < nkeys and known[k])
    n_unknown = sum(1 for k in range(nkeys) if not known[k])
    for idx in targets:
        op = ops[idx]
        a, b = op.call, op.ret
        assert b is not None
        quiet = qfrom is not None and idx >= qfrom
        if not quiet and not history.concurrent_iterate and op.kind == "iterate" and any(
            s <= b and f >= a for ms in muts.values() for s, f, _ in ms
        ):
            continue

        def state(k: int, a: int = a, b: int = b, quiet: bool = quiet) -> int:
            if quiet and k in post:
                return post[k]
            return _state(muts.get(k, []), a, b)

        if op.kind == "iterate":
            seen: dict[int, int] = {}
            for k, v in op.items or ():
                if k in seen:
                    seen[k] += 1
                else:
                    seen[k] = 1
                if not (0 <= k < nkeys) or not known[k]:
                    found.append(Violation(
                        "phantom-value", nm.key(k), (idx,),
                        f"{nm.op(idx)} yielded key {nm.key(k)}, which no operation wrote."))
                    continue
                if not (0 <= v < nvals) or vown[v] != k:
                    value_problem(k, v, idx)
                evs = per_key.get(k)
                if evs is None:
                    evs = per_key[k] = []
                evs.append((a, b, R, v, v, idx))
                if quiet and k in post_absent and k not in bad:
                    bad[k] = Finding(
                        "phantom-value", (idx,),
                        f"{nm.op(idx)} yielded {nm.key(k)} = {nm.value(v)} after the writes "
                        "had stopped, but the key is absent.")
            for k, c in seen.items():
                if c > 1 and 0 <= k < nkeys and known[k] and not any(
                    not is_put and s <= b and f >= a for s, f, is_put in muts.get(k, [])
                ):
                    found.append(Violation(
                        "duplicate-key", nm.key(k), (idx,),
                        f"{nm.op(idx)} yielded key {nm.key(k)} {c} times, and no delete of "
                        "it overlapped the iteration."))
            if fast and quiet and all_post:
                # every key's presence is its post-phase get's answer
                miss = [k for k in post_present if k not in seen]
            else:
                miss = [k for k in range(nkeys)
                        if k not in seen and known[k] and state(k) == PRESENT]
            for k in miss:
                found.append(Violation(
                    "missing-key", nm.key(k), (idx,),
                    f"{nm.op(idx)} did not yield key {nm.key(k)}, although it was present "
                    "and untouched for the whole iteration."))
        else:
            if not quiet and not history.exact_len:
                continue
            lo = hi = 0
            if fast and quiet and all_post:
                # known keys: their post-phase answers; unknown keys: unsure
                lo = len(post_present)
                hi = lo + n_unknown
            elif fast and not quiet:
                lo, hi = _len_bounds(muts, known, nkeys, a, b)
            else:
                for k in range(nkeys):
                    st = state(k) if known[k] else UNSURE
                    if st == PRESENT:
                        lo += 1
                        hi += 1
                    elif st == UNSURE:
                        hi += 1
            n = op.length
            if n is None or lo <= n <= hi:
                continue
            want = str(lo) if lo == hi else f"between {lo} and {hi}"
            found.append(Violation(
                "len-mismatch", None, (idx,),
                f"{nm.op(idx)} returned {n}, but {want} keys were present"
                + (" after the writes had stopped." if quiet else " while it ran.")))
    return found
