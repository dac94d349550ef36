"""Reading a JSON-lines history straight into its columnar form (fast path).

``read_columns(path)`` decodes the file with msgspec in blocks of lines into typed
records and moves each field into numpy arrays at once (``Columns``, the form the
oracle's bulk path reads), interning keys and values with dictionaries over the
distinct strings only. No ``Operation`` or ``ValueInfo`` object is made per line:
the history's ``ops`` and ``values`` are read-only views (:class:`OpsView`,
:class:`ValuesView`) that build one on demand from the arrays, for the few
operations the oracle names or checks one by one.

The fast path accepts only what it can read exactly as the per-line reader
(harness.data.history_file) would; on anything else (a malformed line, a blank
line, a line break the per-line reader splits on inside a string, a number with no
int64 form) it returns None and the caller reads the file line by line, which
gives the same history or the exact error message naming the line.
"""

from __future__ import annotations

import gc
import operator
from collections.abc import Iterator
from itertools import repeat
from typing import BinaryIO, Literal, SupportsIndex, TypeVar, overload

import msgspec
import numpy as np

from harness.data.history import (
    KIND_CODE,
    NULL,
    OP_KINDS,
    STATUS_CODE,
    STATUSES,
    Columns,
    History,
    Operation,
    ValueInfo,
)

BLOCK_BYTES = 4 << 20
"""Lines are decoded in blocks of about this many bytes (bounds the records alive)."""

# str.splitlines() splits on these too; a file holding one is left to the per-line reader
# (single bytes first, then the UTF-8 forms of U+0085, U+2028, U+2029)
_OTHER_BREAKS = (b"\r", b"\x0b", b"\x0c", b"\x1c", b"\x1d", b"\x1e", b"\xc2\x85",
                 b"\xe2\x80\xa8", b"\xe2\x80\xa9")


class _Result(msgspec.Struct, gc=False):
    status: str
    value: str | None = None
    old: str | None = None


class _Line(msgspec.Struct, rename={"ret": "return"}, gc=False):
    thread: int
    call: int
    ret: int | None
    op: Literal["get", "put", "put_if_absent", "delete"]
    key: str
    value: str | None = None
    result: _Result | None = None


_DECODER = msgspec.json.Decoder(_Line)
SMALL = 4096
"""Histories with fewer operations get plain lists of ``Operation``/``ValueInfo`` (the
oracle's per-operation path reads them all; below harness.oracle.checker.VECTOR_MIN_OPS)."""
_PENDING = _Result("pending")

_K = {k: KIND_CODE[k] for k in ("get", "put", "put_if_absent", "delete")}
_S_PENDING = STATUS_CODE["pending"]
_S_ERROR = STATUS_CODE["error"]
# (kind code, status code) pairs a returned operation may have ("error" for any kind)
_OK_STATUS = np.zeros((len(OP_KINDS) + 1, len(STATUSES) + 1), dtype=bool)
for _k, _sts in (("get", ("found", "absent")), ("put", ("inserted", "replaced")),
                 ("put_if_absent", ("inserted", "present")), ("delete", ("removed", "absent"))):
    for _st in (*_sts, "error"):
        _OK_STATUS[KIND_CODE[_k], STATUS_CODE[_st]] = True
# the result field holding the value an operation returned: 1 "value", 2 "old"
_OUT_FIELD = np.zeros_like(_OK_STATUS, dtype=np.int8)
for _k, _st, _f in (("get", "found", 1), ("put_if_absent", "present", 1),
                    ("put", "replaced", 2), ("delete", "removed", 2)):
    _OUT_FIELD[KIND_CODE[_k], STATUS_CODE[_st]] = _f
_WRITES = np.zeros(len(STATUSES) + 1, dtype=bool)
for _st in ("inserted", "replaced", "error", "pending"):
    _WRITES[STATUS_CODE[_st]] = True


class _Reject(Exception):
    """The fast path cannot read this file exactly; read it line by line."""


def _ints(xs: list[int], pending: np.ndarray | None = None) -> np.ndarray:
    """int64 array of ``xs``; an entry with no int64 form, or NULL itself where it is not
    a pending operation's return, rejects the file."""
    try:
        a = np.array(xs, dtype=np.int64)
    except (OverflowError, TypeError, ValueError):
        raise _Reject from None
    null = a == NULL
    if a.shape != (len(xs),) or (null.any() if pending is None else (null != pending).any()):
        raise _Reject
    return a


class _Interner:
    """Ids for a stream of strings (one dict entry per distinct one; None is -1). With
    ``ordered`` the ids follow first appearance; without, new strings of a block are
    added as a set (faster; the caller orders what it needs itself)."""

    def __init__(self, *, ordered: bool) -> None:
        self.ids: dict[str | None, int] = {None: -1}
        self.strings: list[str] = []
        self.ordered = ordered

    def __call__(self, xs: list[str | None]) -> np.ndarray:
        ids = self.ids
        fresh = set(xs).difference(ids)  # (set.difference walks the smaller side)
        if fresh:
            new = [s for s in dict.fromkeys(xs) if s in fresh] if self.ordered else list(fresh)
            start = len(self.strings)
            ids.update(zip(new, range(start, start + len(new)), strict=True))
            self.strings.extend(new)  # type: ignore[arg-type]  # None is never fresh
        return np.fromiter(map(ids.__getitem__, xs), np.int64, len(xs))


class _Blocks:
    """The per-block arrays, joined at the end."""

    def __init__(self) -> None:
        self.parts: dict[str, list[np.ndarray]] = {}
        self.keys = _Interner(ordered=True)  # key ids by first appearance, as line by line
        self.strings = _Interner(ordered=False)

    def add(self, lines: list[_Line]) -> None:
        n = len(lines)
        get = operator.attrgetter
        rets: list[int | None] = list(map(get("ret"), lines))
        pending = np.fromiter(map(operator.is_, rets, repeat(None)), bool, n)
        if pending.any():
            rets = [NULL if r is None else r for r in rets]
        results: list[_Result | None] = list(map(get("result"), lines))
        missing = np.fromiter(map(operator.is_, results, repeat(None)), bool, n)
        if (missing & ~pending).any():
            raise _Reject  # a returned operation without a result
        res = [_PENDING if p else r for p, r in zip(pending.tolist(), results, strict=True)] \
            if pending.any() or missing.any() else results
        thread = _ints(list(map(get("thread"), lines)))
        call = _ints(list(map(get("call"), lines)))
        ret = _ints(rets, pending)  # type: ignore[arg-type]  # no None left
        kind = np.fromiter(map(_K.__getitem__, map(get("op"), lines)), np.int8, n)
        status = np.fromiter(
            map(STATUS_CODE.get, map(get("status"), res), repeat(len(STATUSES))), np.int8, n)
        status[pending] = _S_PENDING
        done = ~pending
        if (ret[done] < call[done]).any():
            raise _Reject
        if not _OK_STATUS[kind[done], status[done]].all():
            raise _Reject
        arg = self.strings(list(map(get("value"), lines)))
        writes = (kind == _K["put"]) | (kind == _K["put_if_absent"])
        if (arg[writes] < 0).any():
            raise _Reject  # a put without a value
        arg[~writes] = -1
        field = _OUT_FIELD[kind, status]
        out = np.full(n, -1, np.int64)
        if (field == 1).any():
            rv = self.strings(list(map(get("value"), res)))
            out = np.where(field == 1, rv, out)
        if (field == 2).any():
            ro = self.strings(list(map(get("old"), res)))
            out = np.where(field == 2, ro, out)
        found = (kind == _K["get"]) & (status == STATUS_CODE["found"])
        if (out[found] < 0).any():
            raise _Reject  # get found without a value
        key = self.keys(list(map(get("key"), lines)))
        for name, a in (("thread", thread), ("kind", kind), ("key", key), ("call", call),
                        ("ret", ret), ("status", status), ("arg", arg), ("out", out)):
            self.parts.setdefault(name, []).append(a)

    def history(self) -> History:
        cat = {name: np.concatenate(self.parts.pop(name)) for name in list(self.parts)}
        n = len(cat["kind"]) if cat else 0
        if not n:
            return History()
        nkeys = len(self.keys.strings)
        nstr = max(1, len(self.strings.strings))
        key = cat["key"]
        # values are interned per (key, string), ids by first appearance (arg, then out)
        code = np.stack([cat.pop("arg"), cat.pop("out")], axis=1)
        code = np.where(code >= 0, key[:, None] * nstr + code, -1).ravel()
        valid = code >= 0
        uniq, first, inverse = np.unique(code[valid], return_index=True, return_inverse=True)
        order = np.argsort(first, kind="stable")
        del first
        rank = np.empty(len(uniq), np.int64)
        rank[order] = np.arange(len(uniq), dtype=np.int64)
        code[valid] = rank[inverse.ravel()]
        code[~valid] = NULL
        del inverse, valid, rank
        by_id = uniq[order]
        value_key = by_id // nstr
        labels = [self.strings.strings[s] for s in (by_id % nstr).tolist()]
        arg, out = code[0::2].copy(), code[1::2].copy()
        del code
        status = cat["status"]
        wrote = (arg != NULL) & _WRITES[status]
        w_ops = np.flatnonzero(wrote)
        w_vals, w_first = np.unique(arg[w_ops], return_index=True)
        value_writer = np.full(len(uniq), NULL, np.int64)
        value_writer[w_vals] = w_ops[w_first]
        cols = Columns(thread=cat["thread"], kind=cat["kind"], key=key, call=cat["call"],
                       ret=cat["ret"], status=status, arg=arg, out=out,
                       value_key=value_key, value_writer=value_writer)
        h = History(keys=self.keys.strings, key_known=[True] * nkeys,
                    unique_writes=len(w_vals) == len(w_ops))
        h.ops = OpsView(cols)
        h.values = ValuesView(cols, labels)
        if n < SMALL:
            # the oracle reads every operation of a small history one by one
            h.ops, h.values = list(h.ops), list(h.values)
        return h


def read_columns(fh: BinaryIO) -> History | None:
    """The history in the JSON-lines file ``fh`` (binary, read from its position in
    blocks, never whole), or None when the fast path cannot read it exactly (then read
    it line by line)."""
    blocks = _Blocks()
    carry = b""
    gc_was = gc.isenabled()
    gc.disable()  # no container made here holds a cycle; collections would only cost
    try:
        while True:
            block = fh.read(BLOCK_BYTES)
            if not block:
                if carry:
                    blocks.add(_decode(carry))
                break
            cut = block.rfind(b"\n") + 1
            if not cut:
                carry += block
                continue
            chunk, carry = carry + block[:cut], block[cut:]
            blocks.add(_decode(chunk))
    except (msgspec.DecodeError, _Reject):
        return None
    finally:
        if gc_was:
            gc.enable()
    return blocks.history()


def _decode(chunk: bytes) -> list[_Line]:
    """The records of whole lines (the last may lack its newline)."""
    if any(b in chunk for b in _OTHER_BREAKS[:6]) or (
            not chunk.isascii() and any(b in chunk for b in _OTHER_BREAKS[6:])):
        raise _Reject
    lines = _DECODER.decode_lines(chunk)
    if len(lines) != chunk.count(b"\n") + (0 if chunk.endswith(b"\n") else 1):
        raise _Reject  # a blank line, or two objects on one line
    return lines


T = TypeVar("T")


class _View(list[T]):
    """A read-only list whose items are made on demand by ``_item`` (``_size`` of them)."""

    def _size(self) -> int:
        raise NotImplementedError

    def _item(self, i: int) -> T:
        raise NotImplementedError

    def __len__(self) -> int:
        return self._size()

    def __bool__(self) -> bool:
        return self._size() > 0

    @overload
    def __getitem__(self, i: SupportsIndex) -> T: ...
    @overload
    def __getitem__(self, i: slice) -> list[T]: ...
    def __getitem__(self, i: SupportsIndex | slice) -> T | list[T]:
        n = self._size()
        if isinstance(i, slice):
            return [self._item(j) for j in range(*i.indices(n))]
        j = operator.index(i)
        if j < 0:
            j += n
        if not 0 <= j < n:
            raise IndexError(f"{type(self).__name__} index out of range")
        return self._item(j)

    def __iter__(self) -> Iterator[T]:
        return map(self._item, range(self._size()))

    def _read_only(self, *args: object, **kw: object) -> None:
        raise TypeError("a history read into columns is read-only")

    append = extend = insert = remove = pop = clear = sort = reverse = _read_only  # type: ignore[assignment]
    __setitem__ = __delitem__ = __iadd__ = _read_only  # type: ignore[assignment]


class OpsView(_View[Operation]):
    """``History.ops`` of a history read into columns: ``Operation`` objects made on
    demand (``line`` is the index + 1: the fast path reads no blank lines)."""

    def __init__(self, cols: Columns) -> None:
        super().__init__()
        self.cols = cols
        self._kind = [*OP_KINDS, "?"]
        self._status = [*STATUSES, "?"]

    def _size(self) -> int:
        return len(self.cols)

    def __iter__(self) -> Iterator[Operation]:
        c = self.cols
        kinds, statuses = self._kind, self._status
        for i, (t, k, key, call, ret, st, arg, out) in enumerate(zip(
                c.thread.tolist(), c.kind.tolist(), c.key.tolist(), c.call.tolist(),
                c.ret.tolist(), c.status.tolist(), c.arg.tolist(), c.out.tolist(),
                strict=True)):
            yield Operation(t, kinds[k], key, call, None if ret == NULL else ret, statuses[st],
                            None if arg == NULL else arg, None if out == NULL else out,
                            line=i + 1)

    def _item(self, i: int) -> Operation:
        c = self.cols
        ret = int(c.ret[i])
        arg, out = int(c.arg[i]), int(c.out[i])
        return Operation(
            thread=int(c.thread[i]), kind=self._kind[c.kind[i]], key=int(c.key[i]),
            call=int(c.call[i]), ret=None if ret == NULL else ret,
            status=self._status[c.status[i]], arg=None if arg == NULL else arg,
            out=None if out == NULL else out, line=i + 1)


class ValuesView(_View[ValueInfo]):
    """``History.values`` of a history read into columns (``ValueInfo`` made on demand)."""

    def __init__(self, cols: Columns, labels: list[str]) -> None:
        super().__init__()
        self.cols = cols
        self.labels = labels

    def _size(self) -> int:
        return len(self.labels)

    def _item(self, v: int) -> ValueInfo:
        w, k = int(self.cols.value_writer[v]), int(self.cols.value_key[v])
        return ValueInfo(None if w == NULL else w, None if k == NULL else k, self.labels[v])
