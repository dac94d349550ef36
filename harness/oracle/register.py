"""The per-key fast path: chains of read-modify-write operations, zones, ⊥ search.

Applies to a key whose events are all completed ``R`` and ``W`` (see ``events``), with
every value written at most once. Then the atomic order of writes is almost fixed:
each write names the value it replaced (``pre``), so each value has at most one
successor, and the only freedom is which ⊥ ("absent") stretch each insert follows.

* A *piece* starts at an insert (``pre`` = ⊥) and follows the successor links
  (put replaced old -> next put ...) to the delete that ends it (*closed*) or to a
  value nobody replaced (*open*: it must be the final value, so at most one).
* Inside a piece the order of clusters (a value's write plus its reads) is fixed. With
  p_i = max(s(writer_i), max s over earlier clusters), the piece is possible iff
  p_i <= f(o) for every op o of cluster i (closed intervals). The trailing ⊥ stretch
  of a closed piece holds the ⊥ reads assigned to it, each needing f(r) >= hp, the
  largest start in the piece.
* The pieces, plus the initial ⊥ stretch ⊥0 (lo = -inf), are then *units* with
  lo = min f and hi = max s over their ops (an open piece has hi = +inf: it is last).
  Units can be put in one order with hi(A) <= lo(B) for A before B iff no two
  conflict: (A forward or B forward) and lo(A) < hi(B) and lo(B) < hi(A), a unit
  being forward when lo < hi (Gibbons & Korach zones; strict inequalities).
* Each ⊥ read goes to ⊥0 or to a closed piece's tail: candidates are ⊥0 when no write
  returned before the read began, else closed pieces whose delete returned no earlier
  than M(r) (the latest start of a write that returned before r began) and whose hp
  <= f(r). An empty candidate set is a violation. Otherwise a depth-first search over
  the reads (by start) tries candidates by least zone growth; an assignment that grows
  nothing is taken without branching. Zones only grow, so rejecting a candidate that
  creates a conflict is exact. Out of budget -> unknown.
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass

from .classify import Namer
from .events import BOT, INF, NEG, Event, R


@dataclass(frozen=True, slots=True)
class Finding:
    cls: str
    ops: tuple[int, ...]
    explanation: str


class _Unit:
    __slots__ = ("closed", "del_f", "del_s", "hi", "hi_op", "hp", "lo", "lo_op", "reads")

    def __init__(self) -> None:
        self.lo = INF
        self.hi = NEG
        self.lo_op = -1
        self.hi_op = -1
        self.hp = NEG
        self.closed = False
        self.del_f = NEG
        self.del_s = NEG
        self.reads = False


def _conflict(lo1: int, hi1: int, lo2: int, hi2: int) -> bool:
    return (lo1 < hi1 or lo2 < hi2) and lo1 < hi2 and lo2 < hi1


def _find_conflict(units: list[_Unit]) -> tuple[int, int] | None:
    """Some conflicting pair of units, or None. O(U log U)."""
    fwd = sorted((i for i, u in enumerate(units) if u.lo < u.hi), key=lambda i: units[i].lo)
    prev = -1
    los: list[int] = []
    for i in fwd:
        u = units[i]
        if prev >= 0 and u.lo < units[prev].hi:
            return prev, i
        if prev < 0 or u.hi > units[prev].hi:
            prev = i
        los.append(u.lo)
    # no two forward units overlap: sorted by lo, their hi increase too
    for i, u in enumerate(units):
        if u.lo < u.hi:
            continue
        k = bisect_left(los, u.hi)  # forward units with lo < hi(u)
        if k:
            j = fwd[k - 1]
            if u.lo < units[j].hi:
                return j, i
    return None


def fast_check(evs: list[Event], budget: int, nm: Namer) -> tuple[str, int, Finding | None]:
    """Check one key. Returns (status, dfs steps, finding); status ok|violation|unknown."""
    writer: dict[int, Event] = {}
    reads: dict[int, list[Event]] = {}
    bot_reads: list[Event] = []
    claim: dict[int, Event] = {}
    inserts: list[Event] = []
    writes: list[Event] = []
    for e in evs:
        if e[2] == R:
            if e[3] == BOT:
                bot_reads.append(e)
            else:
                reads.setdefault(e[3], []).append(e)
        else:
            writes.append(e)
            if e[4] != BOT:
                writer[e[4]] = e
            pre = e[3]
            if pre == BOT:
                inserts.append(e)
            else:
                c = claim.get(pre)
                if c is not None:
                    w = writer.get(pre)
                    ops = (w[5], c[5], e[5]) if w is not None else (c[5], e[5])
                    return "violation", 0, Finding(
                        "lost-write", ops,
                        f"{nm.op(c[5])} and {nm.op(e[5])} both replaced {nm.value(pre)}: "
                        "one of them overwrote the other's write without seeing it, "
                        "so that write was lost.",
                    )
                claim[pre] = e
    for v, rs in reads.items():
        if v not in writer:
            r = rs[0]
            return "violation", 0, Finding(
                "phantom-value", (r[5],),
                f"{nm.op(r[5])} returned {nm.value(v)}, which no operation on this "
                "key wrote.",
            )
    for v, c in claim.items():
        if v not in writer:
            return "violation", 0, Finding(
                "phantom-value", (c[5],),
                f"{nm.op(c[5])} reported old value {nm.value(v)}, which no operation "
                "on this key wrote.",
            )

    units: list[_Unit] = []
    u0 = _Unit()
    u0.lo = NEG
    u0.closed = True
    units.append(u0)
    visited = 0
    open_units: list[int] = []
    for x in inserts:
        u = _Unit()
        running = NEG
        run_op = -1
        cur = x
        while True:
            visited += 1
            s, f, _, _, v, op = cur
            if s > u.hi:
                u.hi, u.hi_op = s, op
            if f < u.lo:
                u.lo, u.lo_op = f, op
            if v == BOT:
                if running > f:
                    return "violation", 0, _internal(nm, run_op, cur, True)
                running = max(running, s)
                u.closed = True
                u.del_f = f
                u.del_s = s
                u.hp = running
                break
            p = running
            p_op = run_op
            if s > p:
                p, p_op = s, op
            if p > f:
                return "violation", 0, _internal(nm, run_op, cur, False)
            hi_c, hi_c_op = p, p_op
            if v in reads:
                rs = reads[v]
                u.reads = True
                for r in rs:
                    if r[1] < p:
                        if p_op == op:
                            return "violation", 0, Finding(
                                "phantom-value", (r[5], op),
                                f"{nm.op(r[5])} returned before {nm.op(op)} began, yet it read "
                                "that write's value: the value was seen before it was written.",
                            )
                        return "violation", 0, _internal(nm, p_op, r, False)
                    if r[1] < u.lo:
                        u.lo, u.lo_op = r[1], r[5]
                    if r[0] > hi_c:
                        hi_c, hi_c_op = r[0], r[5]
                if hi_c > u.hi:
                    u.hi, u.hi_op = hi_c, hi_c_op
            running, run_op = hi_c, hi_c_op
            nxt = claim.get(v)
            if nxt is None:
                break
            cur = nxt
        if not u.closed:
            open_units.append(len(units))
            u.hp = running
        units.append(u)
    if visited != len(writes):
        seen_ops = {e[5] for e in writes}
        # writes not reachable from an insert: their chain of old values is a cycle
        for x in inserts:
            cur = x
            while True:
                seen_ops.discard(cur[5])
                if cur[4] == BOT or cur[4] not in claim:
                    break
                cur = claim[cur[4]]
        stray = sorted(seen_ops)[:4]
        return "violation", 0, Finding(
            "phantom-value", tuple(stray),
            f"{' and '.join(nm.op(o) for o in stray)} each replaced a value that, following "
            "the old values back, was never first inserted: values were seen before "
            "they were written.",
        )
    if len(open_units) > 1:
        a, b = units[open_units[0]], units[open_units[1]]
        ops_ab = (a.hi_op, b.hi_op)
        return "violation", 0, Finding(
            "lost-write", ops_ab,
            f"neither the value left by {nm.op(a.hi_op)} nor the one left by {nm.op(b.hi_op)} "
            "was ever replaced or removed, yet only one can be the final value: a write "
            "was lost.",
        )
    if open_units:
        units[open_units[0]].hi = INF

    bad = _find_conflict(units)
    if bad is not None:
        return "violation", 0, _unit_conflict(nm, units, bad[0], bad[1])
    if not bot_reads:
        return "ok", 0, None
    return _bot_search(units, writes, bot_reads, budget, nm)


def _internal(nm: Namer, early_op: int, late: Event, is_delete: bool) -> Finding:
    """Order inside a piece is forced, but ``early_op`` (earlier in the chain) began
    after ``late`` returned."""
    lo = late[5]
    if early_op < 0:
        return Finding("stale-read", (lo,), f"{nm.op(lo)} cannot be ordered.")
    if nm.is_read(early_op):
        if is_delete:
            return Finding(
                "resurrected-delete", (lo, early_op),
                f"{nm.op(lo)} returned before {nm.op(early_op)} began, yet that read saw a "
                "value the delete (or a later one in its chain) had removed: the deleted "
                "value came back.",
            )
        return Finding(
            "stale-read", (lo, early_op),
            f"{nm.op(lo)} returned before {nm.op(early_op)} began, yet the read returned an "
            "older value: the read is stale.",
        )
    return Finding(
        "phantom-value", (lo, early_op),
        f"{nm.op(lo)} returned before {nm.op(early_op)} began, yet it saw (or replaced) a value "
        "that only exists after that write: a value was seen before it was written.",
    )


def _unit_conflict(nm: Namer, units: list[_Unit], i: int, j: int) -> Finding:
    a, b = units[i], units[j]
    ops = tuple(dict.fromkeys(o for o in (a.lo_op, a.hi_op, b.lo_op, b.hi_op) if o >= 0))
    cls = "stale-read" if (a.reads and b.reads) else "lost-write"
    names = ", ".join(nm.op(o) for o in ops)
    if cls == "lost-write":
        text = (f"{names} overlap in real time so that neither write's run of values can "
                "come before the other's: a write was lost.")
    else:
        text = (f"{names}: each run of values was read after the other had been "
                "replaced, so one of the reads is stale.")
    return Finding(cls, ops, text)


def _bot_search(
    units: list[_Unit], writes: list[Event], bot_reads: list[Event], budget: int,
    nm: Namer,
) -> tuple[str, int, Finding | None]:
    wf = sorted(writes, key=lambda e: e[1])
    wfs = [e[1] for e in wf]
    pmax: list[int] = []
    pmax_op: list[int] = []
    m, mo = NEG, -1
    for e in wf:
        if e[0] > m:
            m, mo = e[0], e[5]
        pmax.append(m)
        pmax_op.append(mo)
    closed = sorted((i for i in range(1, len(units)) if units[i].closed),
                    key=lambda i: units[i].del_f)
    dfs_ = [units[i].del_f for i in closed]
    maxdur = 0
    for i in closed:
        u = units[i]
        d = u.del_f - u.del_s
        if d > maxdur:
            maxdur = d
    los = [u.lo for u in units]
    his = [u.hi for u in units]
    nunits = len(units)

    order = sorted(bot_reads, key=lambda e: e[0])
    cands: list[list[int]] = []
    for r in order:
        s, f = r[0], r[1]
        k = bisect_left(wfs, s)
        mr = pmax[k - 1] if k else NEG
        cs: list[int] = []
        if mr == NEG:
            cs.append(0)
        j = bisect_left(dfs_, mr)
        lim = f + maxdur
        while j < len(closed) and dfs_[j] <= lim:
            ui = closed[j]
            if units[ui].hp <= f:
                cs.append(ui)
            j += 1
        if not cs:
            ops = (r[5],) if not k else (pmax_op[k - 1], r[5])
            return "violation", 0, Finding(
                "lost-write", ops,
                (f"{nm.op(ops[0])} returned before {nm.op(r[5])} began, and no delete fits "
                 "in between, yet the read found the key absent: the write was lost.")
                if k else f"{nm.op(r[5])} found the key absent where it cannot be.",
            )
        cands.append(cs)

    # Only units whose hulls (their span grown by every read that may join them)
    # intersect can ever conflict: index those pairs once.
    hlo = [min(lo, hi) for lo, hi in zip(los, his, strict=True)]
    hhi = [max(lo, hi) for lo, hi in zip(los, his, strict=True)]
    for r, cs in zip(order, cands, strict=True):
        for ui in cs:
            if r[0] < hlo[ui]:
                hlo[ui] = r[0]
            if r[1] > hhi[ui]:
                hhi[ui] = r[1]
    nbrs: list[list[int]] = [[] for _ in range(nunits)]
    by_start = sorted(range(nunits), key=lambda i: hlo[i])
    for a_pos, a in enumerate(by_start):
        end = hhi[a]
        for b in by_start[a_pos + 1:]:
            if hlo[b] > end:
                break
            nbrs[a].append(b)
            nbrs[b].append(a)

    # depth-first search; zones only grow
    steps = 0
    n = len(order)
    level = 0
    trail: list[tuple[int, int, int, list[int]]] = []  # (unit, old lo, old hi, rest)
    worst = 0
    while level < n:
        r = order[level]
        s, f = r[0], r[1]
        opts: list[tuple[int, int]] = []
        free = False
        for ui in cands[level]:
            lo, hi = los[ui], his[ui]
            d = (lo - f if lo > f else 0) + (s - hi if s > hi else 0)
            if d == 0:
                free = True
                break
            opts.append((d, ui))
        if free:
            trail.append((-1, 0, 0, []))
            level += 1
            continue
        opts.sort()
        rest = [ui for _, ui in opts]
        placed = False
        while True:
            while rest:
                steps += 1
                if steps > budget:
                    return "unknown", steps, None
                ui = rest.pop(0)
                lo, hi = los[ui], his[ui]
                nlo = f if f < lo else lo
                nhi = s if s > hi else hi
                ok = True
                fwd = nlo < nhi
                for v in nbrs[ui]:
                    lv, hv = los[v], his[v]
                    if (fwd or lv < hv) and nlo < hv and lv < nhi:
                        ok = False
                        break
                if ok:
                    los[ui], his[ui] = nlo, nhi
                    trail.append((ui, lo, hi, rest))
                    level += 1
                    placed = True
                    break
            if placed:
                break
            # backtrack to the last level with alternatives left
            worst = max(worst, level)
            while trail:
                ui, lo, hi, prest = trail.pop()
                level -= 1
                if ui >= 0:
                    los[ui], his[ui] = lo, hi
                if prest:
                    rest = prest
                    r = order[level]
                    s, f = r[0], r[1]
                    break
            else:
                bad = order[worst] if worst < n else order[-1]
                return "violation", steps, Finding(
                    "lost-write", (bad[5],),
                    f"{nm.op(bad[5])} found the key absent, but no removal (nor the initial "
                    "absence) can come right before it in any order: a write was lost.",
                )
    return "ok", steps, None
