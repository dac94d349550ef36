"""Bulk clearance of keys for big histories (numpy).

``split(history, budget)`` runs the per-key fast path of ``register`` for all keys
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
  changes nothing in the search, whatever it is assigned;
* with each read grown into its one candidate, no two units conflict. Zones only
  grow and conflicts only appear as they grow, so the plain depth-first search then
  places every read at its first try: its step count is the number of reads that
  grew their unit when placed, which is computed here and must be within budget.

Segmented scans use offsets: values are shifted to [0, span) and segment ``g`` adds
``g * span``, so a running max (min) never crosses into a later (earlier) segment.
"""

from __future__ import annotations

from operator import attrgetter
from typing import Any

import numpy as np

from harness.history import History

I64 = np.int64
Arr = Any  # numpy arrays (numpy's own annotations are not needed for --strict here)

# (kind, status) -> code; 8: key needs the plain path; 9: history needs the plain path
_GET_F, _GET_A, _PUT_I, _PUT_R, _DEL_R, _DEL_A, _PIA_I, _PIA_P, _ODD, _WHOLE = range(10)


class _Ids(dict[str, int]):
    """Name -> small id; any other name -> ``default``."""

    def __init__(self, names: tuple[str, ...], default: int) -> None:
        super().__init__((nm, i) for i, nm in enumerate(names))
        self.default = default

    def __missing__(self, key: str) -> int:
        return self.default


_KINDS = _Ids(("get", "put", "delete", "put_if_absent", "iterate", "len"), 6)
_STATUSES = _Ids(("found", "absent", "inserted", "replaced", "removed", "present", "error"), 7)
_TABLE = np.full((7, 8), _ODD, dtype=np.int8)
for _k, _st, _c in (("get", "found", _GET_F), ("get", "absent", _GET_A),
                    ("put", "inserted", _PUT_I), ("put", "replaced", _PUT_R),
                    ("delete", "removed", _DEL_R), ("delete", "absent", _DEL_A),
                    ("put_if_absent", "inserted", _PIA_I),
                    ("put_if_absent", "present", _PIA_P)):
    _TABLE[_KINDS[_k], _STATUSES[_st]] = _c
_TABLE[:, _STATUSES["error"]] = _WHOLE
_TABLE[_KINDS["iterate"], :] = _WHOLE
_TABLE[_KINDS["len"], :] = _WHOLE

_G_KIND = attrgetter("kind")
_G_STATUS = attrgetter("status")
_G_KEY = attrgetter("key")
_G_CALL = attrgetter("call")
_G_RET = attrgetter("ret")
_G_ARG = attrgetter("arg")
_G_OUT = attrgetter("out")
_LIMIT = float(1 << 52)


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


def split(history: History, budget: int) -> tuple[list[int], int, int] | None:
    """Clear what can be cleared in bulk.

    Returns ``(plain_ops, keys, steps)``: the indices (ascending) of the operations of
    the keys left to the plain path, the number of keys in the history (as the plain
    path counts them) and the search steps the plain path would have spent on the
    cleared keys. None when the whole history should take the plain path (iterate,
    len or failed operations, keys that are not ids, huge timestamps).
    """
    ops = history.ops
    n = len(ops)
    kinds = np.fromiter(map(_KINDS.__getitem__, map(_G_KIND, ops)), np.int8, n)
    statuses = np.fromiter(map(_STATUSES.__getitem__, map(_G_STATUS, ops)), np.int8, n)
    codes = _TABLE[kinds, statuses]
    if (codes == _WHOLE).any():
        return None
    try:
        key = np.fromiter(map(_G_KEY, ops), I64, n)
        s = np.fromiter(map(_G_CALL, ops), I64, n)
    except TypeError:
        return None
    fr = np.fromiter(map(_G_RET, ops), np.float64, n)
    argf = np.fromiter(map(_G_ARG, ops), np.float64, n)
    outf = np.fromiter(map(_G_OUT, ops), np.float64, n)
    nkey_ids = len(history.keys)
    if n == 0 or key.min() < 0 or key.max() >= nkey_ids:
        return None
    pend = np.isnan(fr)
    fr[pend] = 0.0
    if np.abs(fr).max() >= _LIMIT or np.abs(s).max() >= _LIMIT:
        return None
    f = fr.astype(I64)
    present = np.bincount(key, minlength=nkey_ids) > 0
    nkeys = int(np.count_nonzero(present))
    bad = np.zeros(nkey_ids, dtype=bool)

    values = history.values
    nvals = len(values)
    # the key a value may be read on: its key when some operation wrote it, else -1
    vk = np.fromiter([-1 if vi.writer is None or vi.key is None else vi.key for vi in values],
                     I64, nvals)

    is_get = codes <= _GET_A
    bad[key[pend & ~is_get]] = True
    act = ~pend
    has_out = ~np.isnan(outf)
    bad[key[act & (codes == _ODD)]] = True
    needs_out = (codes == _GET_F) | (codes == _PUT_R) | (codes == _DEL_R) | (codes == _PIA_P)
    bad[key[act & needs_out & ~has_out]] = True
    bad[key[act & (s > f)]] = True
    # torn / phantom values
    chk = act & has_out & (codes != _GET_A)
    outv = np.where(has_out, outf, -1.0)
    ok_range = (outv >= 0) & (outv < nvals)
    bad[key[chk & ~ok_range]] = True
    out = np.where(ok_range, outv, 0).astype(I64)
    if nvals:
        bad[key[chk & ok_range & (vk[out] != key)]] = True
    # writes: a new value each (W with post), reported old value (W with pre)
    has_post = (codes == _PUT_I) | (codes == _PUT_R) | (codes == _PIA_I)
    argv = np.where(np.isnan(argf), -1.0, argf)
    arg_ok = (argv >= 0) & (argv < nvals)
    bad[key[act & has_post & ~arg_ok]] = True
    arg = np.where(arg_ok, argv, 0).astype(I64)
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
        return plain.tolist(), nkeys, 0
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
    ar = np.arange(nw, dtype=I64)
    root = np.where(pred < 0, ar, pred)
    dist = (pred >= 0).astype(I64)
    for _ in range(max(1, nw.bit_length() + 1)):
        rr = root[root]
        if np.array_equal(rr, root):
            break
        dist = dist + dist[root]
        root = rr
    cyc = (root[root] != root) | (pred[root] >= 0)
    bad[wkey[cyc]] = True
    maxd = int(dist.max()) + 1 if nw else 1
    order = np.argsort(root * maxd + dist, kind="stable")
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
        kend = np.searchsorted(cck, (bkey + 1) * span, side="left")
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
        if multi.any():
            # free for j0 before anything is placed: a no-op for the search
            cj = cidx[np.minimum(j0, max(ncl - 1, 0))] if ncl else np.zeros(len(bidx), I64)
            free = has_j0 & (u_lo[cj] <= bf) & (bs <= u_hi[cj])
            bad[bkey[multi & ~free]] = True
        single = single0 | singlej
        if ncl:
            unit = np.where(single0, npieces + bkey, cidx[np.minimum(j0, ncl - 1)])
        else:
            unit = npieces + bkey
        a_unit = unit[single]
        a_s = bs[single]
        a_f = bf[single]
        a_key = bkey[single]
        ao = np.lexsort((bidx[single], a_s, a_unit))
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
        steps_key = np.bincount(a_key[grows], minlength=nkey_ids)
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
    return plain.tolist(), nkeys, steps
