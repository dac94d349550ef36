"""Exact bounded search for one key (Wing & Gong with Lowe's memo).

Used for the keys the zone fast path does not cover: values written more than once,
operations that never returned (or failed), results without the old value. The
search linearizes one event at a time; a read that agrees with the current state and
may go next is taken at once without branching (it changes nothing and only frees
others, so this never loses a solution). Configurations (set of linearized events,
state) already explored are not explored again. Returns True (linearizable), False
(not), or None when ``budget`` expansions did not decide.
"""

from __future__ import annotations

from .classify import Namer
from .events import BOT, INF, RN, WB, WN, WP, Event, R
from .register import Finding


def exact_check(events: list[Event], budget: int) -> tuple[bool | None, int]:
    """Decide linearizability of one key's events. Returns (result, steps used)."""
    evs = sorted(events, key=lambda e: e[0])
    n = len(evs)
    ss = [e[0] for e in evs]
    kinds = [e[2] for e in evs]
    pres = [e[3] for e in evs]
    posts = [e[4] for e in evs]
    optional = [e[2] in (WB, WP) for e in evs]
    # required events sorted by finish time
    byf = sorted((i for i in range(n) if not optional[i]), key=lambda i: evs[i][1])
    ff = [evs[i][1] for i in byf]
    nreq = len(byf)
    seen: set[tuple[int, int]] = set()
    steps = 0
    stack: list[tuple[int, int, int, int]] = [(0, BOT, 0, 0)]
    seen.add((0, BOT))
    while stack:
        mask, state, ps, pf = stack.pop()
        steps += 1
        if steps > budget:
            return None, steps
        # greedily take every read that agrees with the state and may go next
        while True:
            while ps < n and (mask >> ps) & 1:
                ps += 1
            while pf < nreq and (mask >> byf[pf]) & 1:
                pf += 1
            if pf == nreq:
                return True, steps
            min_f = ff[pf]
            took = False
            i = ps
            while i < n and ss[i] <= min_f:
                if not (mask >> i) & 1:
                    k = kinds[i]
                    if (k == R and pres[i] == state) or (k == RN and state != BOT):
                        mask |= 1 << i
                        took = True
                i += 1
            if not took:
                break
        i = ps
        while i < n and ss[i] <= min_f:
            if not (mask >> i) & 1:
                k = kinds[i]
                nxt = -3
                if k in (R, RN):
                    pass
                elif k == WB:
                    nxt = posts[i]
                elif k == WN:
                    if state != BOT:
                        nxt = posts[i]
                elif k == WP:
                    if state == BOT:
                        nxt = posts[i]
                elif pres[i] == state:  # W
                    nxt = posts[i]
                if nxt != -3:
                    m2 = mask | (1 << i)
                    key = (m2, nxt)
                    if key not in seen:
                        seen.add(key)
                        stack.append((m2, nxt, ps, pf))
            i += 1
    return False, steps


__all__ = ["INF", "exact_check"]


def find_witness(events: list[Event], nm: Namer) -> Finding:
    """A few events that on their own are already not linearizable, with a class.

    Greedy deletion: drop each event in turn and keep the drop if the rest is still not
    linearizable (small searches; for long keys only the last 64 events returning
    first are tried, else the whole key is named by its first operations).
    """
    evs = sorted(events, key=lambda e: (e[1], e[0]))
    cur = list(evs)
    budget = 20_000
    if len(cur) > 64:
        # try to find a short non-linearizable prefix by finish time first
        lo = 1
        while lo < len(cur):
            res, _ = exact_check(cur[: lo * 2], budget)
            if res is False:
                cur = cur[: lo * 2]
                break
            lo *= 2
    if len(cur) <= 64:
        i = len(cur) - 1
        while i >= 0 and len(cur) > 1:
            trial = cur[:i] + cur[i + 1:]
            res, _ = exact_check(trial, budget)
            if res is False:
                cur = trial
            i -= 1
    ops = tuple(sorted(e[5] for e in cur))[:8]
    has_bot_read = any(e[2] == R and e[3] == BOT for e in cur)
    has_delete = any(e[4] == BOT and e[2] != R for e in cur)
    has_value_read = any(e[2] == R and e[3] != BOT for e in cur)
    if has_value_read and has_delete and not has_bot_read:
        cls = "resurrected-delete"
    elif has_bot_read or not has_value_read:
        cls = "lost-write"
    else:
        cls = "stale-read"
    names = "; ".join(nm.op(o) for o in ops)
    return Finding(cls, ops, f"no sequential order explains these operations together: {names}.")
