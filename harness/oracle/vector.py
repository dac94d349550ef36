"""Bulk clearance of keys for big histories (numpy).

``split(history, budget)`` builds the columns of ``history.ops`` (``build_columns``),
runs the per-key fast path of ``register`` for all keys
at once, on arrays, and returns the keys it could *clear*: keys whose check would
certainly answer ok with a known number of search steps. Every other key (anything
unusual, anything that might be a violation, anything needing a real search) is left
to the plain per-key path, so verdicts, findings and witnesses are the plain path's.

A key is cleared only when, exactly as ``register.fast_check`` would find:

* every operation returned with a usual status and every old value reported (only
  ``R`` and ``W`` events), values pass the torn/phantom rules, each value is written
  once and replaced at most once, and every read value has its writer on the key;
* the replacement chains (pointer jumping from each write to its piece's insert)
  have no cycle and the order inside each piece is possible (running max of starts
  never passes a finish); at most one piece is open;
* every ⊥ read has exactly one candidate (the initial absence or one closed piece),
  or is free (inside the zone) for a candidate before any read is placed: such a read
  changes nothing in the search, whatever it is assigned; the few others (several
  candidates, none holding them at first) are placed by replaying the search's
  choice for them alone (``_place_ambiguous``: least growth, conflict check, steps);
* with each read grown into its one candidate, no two units conflict. Zones only
  grow and conflicts only appear as they grow, so the plain depth-first search then
  places every read at its first try: its step count is the number of reads that
  grew their unit when placed, which is computed here and must be within budget.

Segmented scans use offsets: values are shifted to [0, span) and segment ``g`` adds
``g * span``, so a running max (min) never crosses into a later (earlier) segment.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from harness.data.history import KIND_CODE, NULL, STATUS_CODE, Columns, History, build_columns
from harness.data.history_columns import OpsView, ValuesView

I64 = np.int64
Arr = Any  # numpy arrays (numpy's own annotations are not needed for --strict here)

# (kind, status) -> code; 8: key needs the plain path; 9: history needs the plain path
_GET_F, _GET_A, _PUT_I, _PUT_R, _DEL_R, _DEL_A, _PIA_I, _PIA_P, _ODD, _WHOLE = range(10)

# indexed by the codes of harness.data.history.Columns (the last row/column: any other string)
_TABLE = np.full((len(KIND_CODE) + 1, len(STATUS_CODE) + 1), _ODD, dtype=np.int8)
for _k, _st, _c in (("get", "found", _GET_F), ("get", "absent", _GET_A),
                    ("put", "inserted", _PUT_I), ("put", "replaced", _PUT_R),
                    ("delete", "removed", _DEL_R), ("delete", "absent", _DEL_A),
                    ("put_if_absent", "inserted", _PIA_I),
                    ("put_if_absent", "present", _PIA_P)):
    _TABLE[KIND_CODE[_k], STATUS_CODE[_st]] = _c
_TABLE[:, STATUS_CODE["error"]] = _WHOLE
_TABLE[KIND_CODE["iterate"], :] = _WHOLE
_TABLE[KIND_CODE["len"], :] = _WHOLE

_LIMIT = 1 << 52
_NEG_PLAIN = -(1 << 62)
"""``events.NEG``: the plain path's -inf (here, shifted times put -inf at 0)."""
AMBIGUOUS_MAX = 50_000
"""At most this many ⊥ reads with several candidates are placed one by one (each
costs a few microseconds); beyond that their keys take the plain path."""


def _seg_starts(seg: Arr) -> Arr:
    first = np.ones(len(seg), dtype=bool)
    if len(seg) > 1:
        first[1:] = seg[1:] != seg[:-1]
    return first


def _cummax(v: Arr, seg: Arr, span: int) -> Arr:
    """Running max inside segments (``seg`` non-decreasing, small ints)."""
    off = seg * span
    out: Arr = np.maximum.accumulate(v + off) - off
    return out


def _excl_cummax(v: Arr, seg: Arr, span: int, first: Arr, empty: int) -> Arr:
    out = np.empty_like(v)
    if len(v):
        inc = _cummax(v, seg, span)
        out[1:] = inc[:-1]
        out[first] = empty
    return out


def _excl_cummin(v: Arr, seg: Arr, span: int, first: Arr, empty: int) -> Arr:
    out = np.empty_like(v)
    if len(v):
        off = (seg[-1] - seg) * span
        inc = np.minimum.accumulate(v + off) - off
        out[1:] = inc[:-1]
        out[first] = empty
    return out


def _suffix_min(v: Arr, seg: Arr, span: int) -> Arr:
    off = seg * span
    out: Arr = np.minimum.accumulate((v + off)[::-1])[::-1] - off
    return out


def _place_ambiguous(
    ai: Arr, bs: Arr, bf: Arr, bidx: Arr, bkey: Arr, has_m: Arr, j0: Arr, kend: Arr,
    cidx: Arr, chp: Arr, npieces: int, n: int, u_key: Arr, u_lo: Arr, u_hi: Arr,
    a_unit: Arr, a_s: Arr, a_f: Arr, a_b: Arr, a_key: Arr, nkey_ids: int,
) -> tuple[Arr, Arr, list[int]]:
    """Replay the plain search for the ⊥ reads ``ai`` that have several candidates,
    none holding the read before anything is placed (a few per thousand ⊥ reads).

    ``a_*``: the reads with one candidate (unit, start, finish, op index, key). Per key,
    reads are taken in the search's order (start, then op index); the zones of the
    key's units at each ambiguous read are the initial zones grown by the reads before
    it (one-candidate reads, and ambiguous reads as placed here). As in
    ``register._bot_search``: if some candidate (the initial absence when no write
    returned before the read, closed pieces whose delete returned no earlier than M(r)
    and whose hp is at most its finish) holds the read with zero growth, the read
    changes nothing (it is put there); else candidates are tried by least growth,
    ties to the lower unit number of the plain path (initial absence first, then
    pieces in insert order, which is piece order here), and the first whose grown
    zone conflicts with no other unit of the key is taken; each try is a step.

    This is the search exactly as long as no one-candidate read is rejected either;
    the caller checks that (no conflict in the final zones). Returns the unit of each
    read (``ai`` order), extra steps per key (the rejected tries), and the keys where
    every candidate of some read was rejected (the search would backtrack)."""
    result = np.full(len(ai), -1, dtype=I64)
    extra = np.zeros(nkey_ids, dtype=I64)
    gave_up: list[int] = []
    in_k = np.zeros(nkey_ids, dtype=bool)
    in_k[bkey[ai]] = True
    sel = np.flatnonzero(in_k[a_key])
    sel = sel[np.lexsort((a_b[sel], a_s[sel], a_key[sel]))]
    sk = a_key[sel]
    us = np.flatnonzero(in_k[u_key])
    us = us[np.argsort(u_key[us], kind="stable")]
    uk = u_key[us]
    ao = np.lexsort((bidx[ai], bs[ai], bkey[ai]))
    ak = bkey[ai[ao]]
    n1 = n + 1
    for k in np.unique(ak).tolist():
        units = us[np.searchsorted(uk, k, "left"):np.searchsorted(uk, k, "right")]
        lo = u_lo[units].copy()
        hi = u_hi[units].copy()
        r0, r1 = np.searchsorted(sk, k, "left"), np.searchsorted(sk, k, "right")
        rs = sel[r0:r1]
        r_loc = np.searchsorted(units, a_unit[rs])
        r_s = a_s[rs]
        r_f = a_f[rs]
        r_ck = r_s * n1 + a_b[rs]
        ptr = 0
        for t in ao[np.searchsorted(ak, k, "left"):np.searchsorted(ak, k, "right")].tolist():
            r = int(ai[t])
            s_r = int(bs[r])
            f_r = int(bf[r])
            q = int(np.searchsorted(r_ck, s_r * n1 + int(bidx[r]), "left"))
            if q > ptr:
                np.minimum.at(lo, r_loc[ptr:q], r_f[ptr:q])
                np.maximum.at(hi, r_loc[ptr:q], r_s[ptr:q])
                ptr = q
            cands: list[int] = []
            if not has_m[r]:
                cands.append(npieces + k)
            lo_j, hi_j = int(j0[r]), int(kend[r])
            if lo_j < hi_j:
                js = np.arange(lo_j, hi_j)
                cands.extend(cidx[js[chp[js] <= f_r]].tolist())
            locs = np.searchsorted(units, cands).tolist()
            opts: list[tuple[int, int, int, int]] = []
            free = -1
            for u, x in zip(cands, locs, strict=True):
                ulo, uhi = int(lo[x]), int(hi[x])
                if uhi == 0:  # the initial absence with no read yet: hi is -inf there
                    uhi = _NEG_PLAIN
                d = (ulo - f_r if ulo > f_r else 0) + (s_r - uhi if s_r > uhi else 0)
                if d == 0:
                    free = u
                    break
                opts.append((d, -1 if u >= npieces else u, u, x))
            if free >= 0:
                result[t] = free
                continue
            opts.sort()
            for _, _, u, x in opts:
                nlo = min(int(lo[x]), f_r)
                nhi = max(int(hi[x]), s_r)
                hit = ((nlo < nhi) | (lo < hi)) & (nlo < hi) & (lo < nhi)
                hit[x] = False
                if hit.any():
                    extra[k] += 1
                    continue
                lo[x] = nlo
                hi[x] = nhi
                result[t] = u
                break
            else:
                gave_up.append(k)
                break
    return result, extra, gave_up


class Split(NamedTuple):
    plain_ops: list[int]
    """Indices (ascending) of the operations of the keys left to the plain path."""
    keys: int
    """Keys in the history, as the plain path counts them."""
    steps: int
    """Search steps the plain path would have spent on the cleared keys."""
    columns: Columns
    """The columns split read, built from ``ops`` (the leftovers' value arrays)."""


def owned_columns(history: History) -> Columns | None:
    """The columns ``history.ops`` and ``history.values`` are read-only views of
    (harness.data.history_columns: a history read from a file), else None. The views
    make every ``Operation`` from those arrays and refuse edits, and a list put in
    their place is not a view, so these columns always describe the operations."""
    ops, values = history.ops, history.values
    if (isinstance(ops, OpsView) and isinstance(values, ValuesView)
            and values.cols.value_key is ops.cols.value_key):
        return ops.cols
    return None


def split(history: History, budget: int) -> Split | None:
    """Clear what can be cleared in bulk, on columns built from ``history.ops`` here
    or the columns its read-only views are made from (``owned_columns``); never
    columns from elsewhere: they could describe other operations.

    None when the whole history should take the plain path (iterate, len or failed
    operations, keys that are not ids, huge timestamps, fields without an int64
    form).
    """
    cols = owned_columns(history) or build_columns(history)
    if cols is None:
        return None
    n = len(cols)
    nvals = len(history.values)
    codes = _TABLE[cols.kind, cols.status]
    if (codes == _WHOLE).any():
        return None
    key = cols.key
    s = cols.call
    nkey_ids = len(history.keys)
    if n == 0 or key.min() < 0 or key.max() >= nkey_ids:
        return None
    pend = cols.ret == NULL
    f = np.where(pend, 0, cols.ret)
    if ((s >= _LIMIT) | (s <= -_LIMIT) | (f >= _LIMIT) | (f <= -_LIMIT)).any():
        return None
    present = np.bincount(key, minlength=nkey_ids) > 0
    nkeys = int(np.count_nonzero(present))
    bad = np.zeros(nkey_ids, dtype=bool)

    # the key a value may be read on: its key when some operation wrote it, else -1
    vk = np.where((cols.value_writer == NULL) | (cols.value_key == NULL), -1, cols.value_key)

    is_get = codes <= _GET_A
    bad[key[pend & ~is_get]] = True
    act = ~pend
    has_out = cols.out != NULL
    bad[key[act & (codes == _ODD)]] = True
    needs_out = (codes == _GET_F) | (codes == _PUT_R) | (codes == _DEL_R) | (codes == _PIA_P)
    bad[key[act & needs_out & ~has_out]] = True
    bad[key[act & (s > f)]] = True
    # torn / phantom values
    chk = act & has_out & (codes != _GET_A)
    outv = np.where(has_out, cols.out, -1)
    ok_range = (outv >= 0) & (outv < nvals)
    bad[key[chk & ~ok_range]] = True
    out = np.where(ok_range, outv, 0)
    if nvals:
        bad[key[chk & ok_range & (vk[out] != key)]] = True
    # writes: a new value each (W with post), reported old value (W with pre)
    has_post = (codes == _PUT_I) | (codes == _PUT_R) | (codes == _PIA_I)
    argv = np.where(cols.arg == NULL, -1, cols.arg)
    arg_ok = (argv >= 0) & (argv < nvals)
    bad[key[act & has_post & ~arg_ok]] = True
    arg = np.where(arg_ok, argv, 0)
    has_pre = (codes == _PUT_R) | (codes == _DEL_R)
    # drop the keys found bad so far; later stages only add to ``bad``
    keep = act & ~bad[key]
    w_mask = keep & (has_post | (codes == _DEL_R))
    post_w = has_post & w_mask
    if nvals:
        cnt = np.bincount(arg[post_w], minlength=nvals)
        dup = post_w & (cnt[arg] > 1)
        bad[key[dup]] = True
        pre_w = has_pre & w_mask
        cnt = np.bincount(out[pre_w], minlength=nvals)
        bad[key[pre_w & (cnt[out] > 1)]] = True
        keep &= ~bad[key]
        w_mask &= keep

    # W events
    widx = np.flatnonzero(w_mask)
    nw = len(widx)
    wkey = key[widx]
    ws = s[widx]
    wf = f[widx]
    wpost = np.where(has_post[widx], arg[widx], -1)
    wpre = np.where(has_pre[widx], out[widx], -1)
    wpos = np.full(max(nvals, 1), -1, dtype=I64)  # value -> W index that wrote it
    sel = wpost >= 0
    wpos[wpost[sel]] = np.flatnonzero(sel)
    # value reads (get found, put_if_absent present)
    rv_mask = keep & ((codes == _GET_F) | (codes == _PIA_P))
    ridx = np.flatnonzero(rv_mask)
    rkey = key[ridx]
    rval = out[ridx]
    rw = wpos[rval]
    wkey_x = np.append(wkey, -1)  # index -1 (no writer) reads the -1 at the end
    bad[rkey[wkey_x[rw] != rkey]] = True
    # predecessor of each write in its chain
    pred = np.where(wpre >= 0, wpos[np.where(wpre >= 0, wpre, 0)], -1)
    bad[wkey[(wpre >= 0) & (pred < 0)]] = True
    pred = np.where(wkey_x[pred] == wkey, pred, -1)

    # span of shifted times, with room for the NEG (0) and INF (span - 1) sentinels
    rs_all = s[keep]
    if len(rs_all) == 0:
        plain = np.flatnonzero(bad[key])
        return Split(plain.tolist(), nkeys, 0, cols)
    tmin = int(rs_all.min())
    tmax = int(f[keep].max())
    span = tmax - tmin + 3
    if span * (n + nkey_ids + 4) >= (1 << 62):
        return None
    neg, inf = 0, span - 1
    shift = tmin - 1
    ws = ws - shift
    wf = wf - shift

    # reads of each value: latest start, earliest finish
    rmax_s = np.full(max(nvals, 1), neg, dtype=I64)
    rmin_f = np.full(max(nvals, 1), inf, dtype=I64)
    np.maximum.at(rmax_s, rval, s[ridx] - shift)
    np.minimum.at(rmin_f, rval, f[ridx] - shift)

    # pieces: pointer jumping to each chain's insert
    root = np.where(pred < 0, np.arange(nw, dtype=I64), pred)
    dist = (pred >= 0).astype(I64)
    act = np.flatnonzero(pred >= 0)
    act = act[pred[root[act]] >= 0]  # those whose root is not yet an insert
    for _ in range(max(1, nw.bit_length() + 1)):
        if not len(act):
            break
        r = root[act]
        d = dist[r]
        rr = root[r]
        dist[act] += d
        root[act] = rr
        act = act[pred[rr] >= 0]
    cyc = pred[root] >= 0
    bad[wkey[cyc]] = True
    if cyc.any():
        maxd = int(dist.max()) + 1 if nw else 1
        order = np.argsort(root * maxd + dist, kind="stable")
    else:
        # chains are laid out by insert, each in chain order: place = start + dist
        size = np.bincount(root, minlength=nw)
        start = np.cumsum(size) - size
        order = np.empty(nw, dtype=I64)
        order[start[root] + dist] = np.arange(nw, dtype=I64)
    pk = wkey[order]
    proot = root[order]
    pseg_first = _seg_starts(proot)
    pseg = np.cumsum(pseg_first) - 1
    p_s = ws[order]
    p_f = wf[order]
    p_post = wpost[order]
    has_v = p_post >= 0
    pv = np.where(has_v, p_post, 0)
    cms = np.where(has_v, np.maximum(p_s, rmax_s[pv]), p_s)
    lo_w = np.where(has_v, np.minimum(p_f, rmin_f[pv]), p_f)
    running = _excl_cummax(cms, pseg, span, pseg_first, neg)
    p = np.maximum(p_s, running)
    inner_bad = (p > p_f) | (has_v & (p > rmin_f[pv]))
    bad[pk[inner_bad]] = True

    starts = np.flatnonzero(pseg_first)
    npieces = len(starts)
    ends = np.empty(npieces, dtype=I64)
    if npieces:
        ends[:-1] = starts[1:] - 1
        ends[-1] = nw - 1
    u_key = pk[starts]
    u_lo = np.minimum.reduceat(lo_w, starts) if npieces else np.empty(0, I64)
    u_hi = np.maximum.reduceat(cms, starts) if npieces else np.empty(0, I64)
    closed = ~has_v[ends] if npieces else np.empty(0, bool)
    del_f = p_f[ends] if npieces else np.empty(0, I64)
    open_cnt = np.bincount(u_key[~closed], minlength=nkey_ids)
    bad[open_cnt > 1] = True
    u_hi = np.where(closed, u_hi, inf)
    hp = u_hi.copy()

    # units: the pieces, then one initial-absence unit per key (id npieces + key)
    u_key = np.concatenate([u_key, np.arange(nkey_ids, dtype=I64)])
    u_lo = np.concatenate([u_lo, np.full(nkey_ids, neg, dtype=I64)])
    u_hi = np.concatenate([u_hi, np.full(nkey_ids, neg, dtype=I64)])

    # ⊥ reads
    b_mask = keep & ((codes == _GET_A) | (codes == _DEL_A))
    bidx = np.flatnonzero(b_mask)
    bkey = key[bidx]
    bs = s[bidx] - shift
    # by (key, start, op): searches below get sorted needles, and this is the order
    # in which the plain search places them
    bo = np.argsort(bkey * span + bs, kind="stable")
    bidx = bidx[bo]
    bkey = bkey[bo]
    bs = bs[bo]
    bf = f[bidx] - shift
    steps_key = np.zeros(nkey_ids, dtype=I64)
    if len(bidx):
        # M(r): latest start of a write that returned before r began
        wck = wkey * span + wf
        wo = np.argsort(wck, kind="stable")
        wck_s = wck[wo]
        wk_s = wkey[wo]
        pm = _cummax(ws[wo], wk_s, span)
        pos = np.searchsorted(wck_s, bkey * span + bs, side="left")
        prev = np.maximum(pos - 1, 0)
        has_m = (pos > 0) & (wk_s[prev] == bkey) if nw else np.zeros(len(bidx), bool)
        m = np.where(has_m, pm[prev] if nw else 0, neg)
        # closed pieces by (key, del_f)
        cidx = np.flatnonzero(closed)
        cck = u_key[cidx] * span + del_f[cidx]
        co = np.argsort(cck, kind="stable")
        cidx = cidx[co]
        cck = cck[co]
        chp = hp[cidx]
        ncl = len(cidx)
        cmin = np.append(_suffix_min(chp, u_key[cidx], span), inf)
        chp = np.append(chp, inf)
        j0 = np.searchsorted(cck, bkey * span + m, side="left")
        kend = np.searchsorted(cck, np.arange(1, nkey_ids + 1, dtype=I64) * span,
                               side="left")[bkey]
        in_key = j0 < kend
        has_j0 = in_key & (chp[j0] <= bf)
        j1 = np.minimum(j0 + 1, ncl)
        rest = np.where(j0 + 1 < kend, cmin[j1], inf) <= bf
        initial = ~has_m
        none = ~initial & ~has_j0 & ~rest
        bad[bkey[none]] = True
        single0 = initial & ~has_j0 & ~rest
        singlej = ~initial & has_j0 & ~rest
        multi = ~(single0 | singlej | none)
        amb = np.zeros(len(bidx), dtype=bool)
        if multi.any():
            # free for j0 before anything is placed: a no-op for the search
            cj = cidx[np.minimum(j0, max(ncl - 1, 0))] if ncl else np.zeros(len(bidx), I64)
            free = has_j0 & (u_lo[cj] <= bf) & (bs <= u_hi[cj])
            amb = multi & ~free & ~bad[bkey]
            if np.count_nonzero(amb) > AMBIGUOUS_MAX:
                bad[bkey[amb]] = True
                amb[:] = False
        single = single0 | singlej
        if ncl:
            unit = np.where(single0, npieces + bkey, cidx[np.minimum(j0, ncl - 1)])
        else:
            unit = npieces + bkey
        a_unit = unit[single]
        a_s = bs[single]
        a_f = bf[single]
        a_key = bkey[single]
        a_b = bidx[single]
        extra_steps = np.zeros(nkey_ids, dtype=I64)
        if amb.any():
            # place the ambiguous reads as the search would (see _place_ambiguous)
            ai = np.flatnonzero(amb)
            p_unit, extra_steps, gave_up = _place_ambiguous(
                ai, bs, bf, bidx, bkey, has_m, j0, kend, cidx, chp, npieces, n,
                u_key, u_lo, u_hi, a_unit, a_s, a_f, a_b, a_key, nkey_ids)
            bad[gave_up] = True
            placed = p_unit >= 0
            unit = unit.copy()
            unit[ai[placed]] = p_unit[placed]
            single = single.copy()
            single[ai[placed]] = True
            a_unit = unit[single]
            a_s = bs[single]
            a_f = bf[single]
            a_key = bkey[single]
        # reads are in (key, start, op) order already: by (unit, start, op)
        ao = np.argsort(a_unit, kind="stable")
        a_unit = a_unit[ao]
        a_s = a_s[ao]
        a_f = a_f[ao]
        a_key = a_key[ao]
        afirst = _seg_starts(a_unit)
        aseg = np.cumsum(afirst) - 1
        lo_cur = np.minimum(u_lo[a_unit], _excl_cummin(a_f, aseg, span, afirst, inf))
        prev_s = np.empty_like(a_s)
        if len(a_s):
            prev_s[1:] = a_s[:-1]
            prev_s[afirst] = neg
        hi_cur = np.maximum(u_hi[a_unit], prev_s)
        grows = (lo_cur > a_f) | (a_s > hi_cur)
        steps_key = np.bincount(a_key[grows], minlength=nkey_ids) + extra_steps
        bad[steps_key > budget] = True
        np.minimum.at(u_lo, a_unit, a_f)
        np.maximum.at(u_hi, a_unit, a_s)

    # conflicts between units (final zones)
    fwd = u_lo < u_hi
    fi = np.flatnonzero(fwd)
    fk = u_key[fi] * span + u_lo[fi]
    fo = np.argsort(fk, kind="stable")
    fi = fi[fo]
    fk = fk[fo]
    fkey = u_key[fi]
    ffirst = _seg_starts(fkey)
    fhi = u_hi[fi]
    if len(fi):
        seen_hi = _excl_cummax(fhi, fkey, span, ffirst, neg)
        bad[fkey[u_lo[fi] < seen_hi]] = True
        pmax = _cummax(fhi, fkey, span)
        bi = np.flatnonzero(~fwd)
        bk = u_key[bi]
        pos = np.searchsorted(fk, bk * span + u_hi[bi], side="left")
        prev = np.maximum(pos - 1, 0)
        hit = (pos > 0) & (fkey[prev] == bk) & (u_lo[bi] < pmax[prev])
        bad[bk[hit]] = True

    steps = int(steps_key[~bad].sum())
    plain = np.flatnonzero(bad[key])
    return Split(plain.tolist(), nkeys, steps, cols)
