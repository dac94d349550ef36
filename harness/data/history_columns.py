"""Reading a JSON-lines history straight into its columnar form (fast path).

``read_columns(path)`` parses the file with Apache Arrow's JSON-lines reader
(``pyarrow.json``: C++, on every core, into typed columns, no Python object per line),
turns the string columns into ids with Arrow's hash kernels (``dictionary_encode``,
ids by first appearance) and the rest into numpy arrays at once (``Columns``, the form
the oracle's bulk path reads). No ``Operation`` or ``ValueInfo`` object is made per
line: the history's ``ops`` and ``values`` are read-only views (:class:`OpsView`,
:class:`ValuesView`) that build one on demand from the arrays, for the few
operations the oracle names or checks one by one.

The fast path accepts only what it can read exactly as the per-line reader
(harness.data.history_file) would; on anything else (a malformed line, a blank line,
a line break the per-line reader splits on inside a string, a number with no int64
form, a field given twice, bytes that are not UTF-8, ``return`` missing rather than
null) it returns None and the caller reads the file line by line, which gives the same
history or the exact error message naming the line. A first pass over the file in
blocks checks what Arrow does not (line count, line breaks, UTF-8) without holding
it whole. Arrow is imported on the first read only (the oracle imports this module
for the views).
"""

from __future__ import annotations

import codecs
import contextlib
import json
import operator
import os
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, BinaryIO, SupportsIndex, TypeVar, overload

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

if TYPE_CHECKING:
    from numpy.typing import NDArray

SMALL = 4096
"""Histories with fewer operations get plain lists of ``Operation``/``ValueInfo`` (the
oracle's per-operation path reads them all; below harness.oracle.checker.VECTOR_MIN_OPS).
``read_history`` reads files with fewer lines line by line: quicker than loading Arrow."""

BLOCK_BYTES = 4 << 20
"""Arrow parses the file in blocks of this many bytes, one per thread at a time (a
line longer than a block is left to the per-line reader)."""

# str.splitlines() splits on these too; a file holding one is left to the per-line reader
# (single bytes, then the UTF-8 forms of U+0085, U+2028, U+2029; "\r" is allowed only as
# part of "\r\n", one line break to both readers)
_OTHER_BREAKS = (b"\x0b", b"\x0c", b"\x1c", b"\x1d", b"\x1e", b"\xc2\x85",
                 b"\xe2\x80\xa8", b"\xe2\x80\xa9")

_KINDS = ("get", "put", "put_if_absent", "delete")
assert all(KIND_CODE[k] == i for i, k in enumerate(_KINDS))  # index_in gives the code
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


def read_columns(source: BinaryIO | str | os.PathLike[str], min_lines: int = 1) -> History | None:
    """The history in the JSON-lines file ``source`` (a path, or a binary file read
    from its position; in blocks, never whole), or None when the fast path cannot read
    it exactly (then read it line by line) or it has fewer than ``min_lines`` lines."""
    if isinstance(source, (str, os.PathLike)):
        with open(source, "rb") as fh:
            return _read(fh, os.fspath(source), min_lines)
    return _read(source, None, min_lines)


def _read(fh: BinaryIO, path: str | None, min_lines: int) -> History | None:
    start = fh.tell()
    try:
        nlines = _scan(fh)
        if nlines < max(1, min_lines):
            return None
        fh.seek(start)
        # Arrow reads a path itself (less memory than through a Python file)
        table = [_table(fh if path is None else path)]
        if table[0].num_rows != nlines:
            raise _Reject  # a blank line, or two objects on one line
        return _finish(*_decode(table, fh, start))
    except _Reject:
        return None


def _scan(fh: BinaryIO) -> int:
    """The number of lines, once the text is known to split into lines the same way
    for Arrow as for ``str.splitlines`` and to be UTF-8."""
    lines = cr = crlf = 0
    tail = b""  # the end of the block before: a break may straddle two blocks
    utf8 = codecs.getincrementaldecoder("utf-8")()
    first = True
    while block := fh.read(BLOCK_BYTES):
        if first and block.startswith(codecs.BOM_UTF8):
            raise _Reject  # json.loads refuses it; Arrow may not
        first = False
        ascii_ = block.isascii()
        if ascii_ and any(b in block for b in _OTHER_BREAKS[:5]):
            raise _Reject
        if not ascii_ and any(b in tail + block for b in _OTHER_BREAKS):
            raise _Reject
        if not ascii_ or utf8.getstate()[0]:  # (a sequence cut at the block before)
            try:
                utf8.decode(block)
            except UnicodeDecodeError:
                raise _Reject from None
        if b"\r" in block:
            cr += block.count(b"\r")
            crlf += block.count(b"\r\n") + (tail.endswith(b"\r") and block.startswith(b"\n"))
        elif tail.endswith(b"\r") and block.startswith(b"\n"):
            crlf += 1
        lines += block.count(b"\n")
        tail = block[-2:]
    try:
        utf8.decode(b"", final=True)
    except UnicodeDecodeError:
        raise _Reject from None
    if cr != crlf:
        raise _Reject  # a lone "\r": a line break to str.splitlines, not to Arrow
    return lines + (1 if tail and not tail.endswith(b"\n") else 0)


_SCHEMA: Any = None


def _table(source: BinaryIO | str) -> Any:
    """The Arrow table of ``source``: every field the reader reads, typed (a value of
    another type, a field given twice, anything not JSON: ``_Reject``); unknown fields
    are skipped, as line by line."""
    global _SCHEMA
    import pyarrow as pa
    import pyarrow.json as pj

    if _SCHEMA is None:
        # jemalloc hands freed blocks back in time for the oracle's numpy arrays: the
        # peak RSS of check-history on 1M operations is about 60 MB lower than with
        # mimalloc, Arrow's default (same time); a build without jemalloc keeps that
        with contextlib.suppress(NotImplementedError):
            pa.set_memory_pool(pa.jemalloc_memory_pool())
        s = pa.string()
        _SCHEMA = pa.schema([
            ("thread", pa.int64()), ("call", pa.int64()), ("return", pa.int64()),
            ("op", s), ("key", s), ("value", s),
            ("result", pa.struct([("status", s), ("value", s), ("old", s)])),
        ])
    try:
        return pj.read_json(
            source,
            read_options=pj.ReadOptions(block_size=BLOCK_BYTES),
            parse_options=pj.ParseOptions(explicit_schema=_SCHEMA,
                                          unexpected_field_behavior="ignore"))
    except (pa.ArrowException, ValueError):
        raise _Reject from None


def _ints(col: Any, fill: int | None = None) -> NDArray[np.int64]:
    """int64 array of an Arrow column; a null (a missing field) rejects the file, or
    becomes ``fill``."""
    import pyarrow.compute as pc

    if col.null_count:
        if fill is None:
            raise _Reject
        col = pc.fill_null(col, fill)
    return np.asarray(col.to_numpy(), dtype=np.int64)


def _ids(col: Any) -> tuple[NDArray[np.int64], Any]:
    """Ids of an Arrow string column by first appearance (-1 for null), and the strings."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if isinstance(col, pa.Array):
        col = pa.chunked_array([col])
    enc = pc.dictionary_encode(col)
    if not enc.num_chunks:
        return np.zeros(0, np.int64), pa.array([], pa.string())
    strings = enc.chunk(enc.num_chunks - 1).dictionary  # one for all chunks, first seen first
    if any(len(c.dictionary) != len(strings) for c in enc.chunks):
        raise _Reject
    ids = np.concatenate([
        np.asarray(pc.fill_null(c.indices, -1).to_numpy(), dtype=np.int64) for c in enc.chunks])
    return ids, strings


def _decode(table: list[Any], fh: BinaryIO, start: int
            ) -> tuple[dict[str, NDArray[Any]], list[str], Any]:
    """The operation arrays of the table in ``table`` (taken out of it: its columns are
    freed as they are converted) read from ``fh`` at ``start``, with ``arg`` and ``out``
    as ids of strings, not yet of values; the key strings; the strings ``arg`` and
    ``out`` index."""
    import pyarrow as pa
    import pyarrow.compute as pc

    t = table.pop()
    n = t.num_rows
    for name in ("thread", "call", "op", "key"):
        if t[name].null_count:
            raise _Reject  # missing or null: an error line by line
    thread = _ints(t["thread"])
    call = _ints(t["call"])
    ret = _ints(t["return"], NULL)
    pending = ret == NULL
    npending = int(np.count_nonzero(pending))
    if (thread == NULL).any() or (call == NULL).any() or t["return"].null_count != npending:
        raise _Reject  # NULL itself in the file: no faithful column form
    if npending:
        fh.seek(start)
        _return_present(fh, np.flatnonzero(pending))
    kind = _ints(pc.index_in(t["op"], value_set=pa.array(_KINDS)), -1).astype(np.int8)
    if (kind < 0).any():
        raise _Reject  # an unknown op
    key, key_strings = _ids(t["key"])
    res = t["result"]
    status = _ints(pc.index_in(pc.struct_field(res, "status"), value_set=pa.array(STATUSES)),
                   len(STATUSES)).astype(np.int8)
    status[pending] = STATUS_CODE["pending"]
    done = ~pending
    if (ret[done] < call[done]).any():
        raise _Reject
    if not _OK_STATUS[kind[done], status[done]].all():
        raise _Reject  # no result, no status, or a status the op cannot have
    del done
    # the value strings an operation names, by slot (its written value, then the value
    # it returned): ids by first appearance over the slots, the order values get ids
    # line by line
    none = pa.scalar(None, pa.string())
    writes = (kind == KIND_CODE["put"]) | (kind == KIND_CODE["put_if_absent"])
    arg = pc.if_else(pa.array(writes), t["value"].combine_chunks(), none)
    if arg.null_count != n - np.count_nonzero(writes):
        raise _Reject  # a put without a value
    field = _OUT_FIELD[kind, status]
    out = pc.if_else(pa.array(field == 1), pc.struct_field(res, "value").combine_chunks(),
                     pc.if_else(pa.array(field == 2), pc.struct_field(res, "old").combine_chunks(),
                                none))
    del t, res
    found = (kind == KIND_CODE["get"]) & (status == STATUS_CODE["found"])
    if (np.asarray(out.is_null().to_numpy(zero_copy_only=False)) & found).any():
        raise _Reject  # get found without a value
    interleave = np.empty(2 * n, np.int64)
    interleave[0::2] = np.arange(n)
    interleave[1::2] = interleave[0::2] + n
    slots, strings = _ids(pa.concat_arrays([arg, out]).take(pa.array(interleave)))
    cols: dict[str, NDArray[Any]] = {
        "thread": thread, "kind": kind, "key": key, "call": call, "ret": ret,
        "status": status, "slots": slots}
    return cols, key_strings.to_pylist(), strings


def _return_present(fh: BinaryIO, rows: NDArray[np.int64]) -> None:
    """Each of these lines (0-based, no blank line in the file) has ``"return"``: Arrow
    reads a missing field as null, line by line it is an error."""
    want = rows.tolist()
    j = 0
    for i, line in enumerate(fh):
        if i == want[j]:
            if "return" not in json.loads(line):
                raise _Reject
            j += 1
            if j == len(want):
                return
    raise _Reject  # fewer lines than rows: cannot be


def _finish(cols: dict[str, NDArray[Any]], keys: list[str], strings: Any) -> History:
    """The history of the operation arrays (``slots``: string ids of each operation's
    written value, then its returned value, -1 for none): values interned per (key,
    string), ids by first appearance, as line by line."""
    n = len(cols["kind"])
    nstr = len(strings)
    key = cols["key"]
    code = cols.pop("slots")
    valid = code >= 0
    sid, skey = code[valid], np.repeat(key, 2)[valid]
    value_key = np.full(nstr, NULL, np.int64)
    value_key[sid] = skey
    if (value_key[sid] == skey).all():
        # every string names values of one key only: value ids are the string ids
        index = np.arange(nstr, dtype=np.int64)
    else:
        code = np.where(valid, key.repeat(2) * nstr + code, -1)
        uniq, first, inverse = np.unique(code[valid], return_index=True, return_inverse=True)
        order = np.argsort(first, kind="stable")
        rank = np.empty(len(uniq), np.int64)
        rank[order] = np.arange(len(uniq), dtype=np.int64)
        code[valid] = rank[inverse.ravel()]
        by_id = uniq[order]
        value_key, index = by_id // nstr, by_id % nstr
        del first, inverse, rank, order, uniq, by_id
    del sid, skey
    code[~valid] = NULL
    del valid
    arg, out = code[0::2].copy(), code[1::2].copy()
    del code
    status = cols["status"]
    w_ops = np.flatnonzero((arg != NULL) & _WRITES[status])
    w_vals = arg[w_ops]
    value_writer = np.full(len(index), NULL, np.int64)
    unique = not len(w_vals) or int(np.bincount(w_vals).max()) == 1
    if unique:
        value_writer[w_vals] = w_ops
    else:  # the first write of each value
        w_uniq, w_first = np.unique(w_vals, return_index=True)
        value_writer[w_uniq] = w_ops[w_first]
    c = Columns(thread=cols["thread"], kind=cols["kind"], key=key, call=cols["call"],
                ret=cols["ret"], status=status, arg=arg, out=out,
                value_key=value_key, value_writer=value_writer)
    h = History(keys=keys, key_known=[True] * len(keys), unique_writes=unique)
    h.ops = OpsView(c)
    h.values = ValuesView(c, _Labels(strings, index))
    if n < SMALL:
        # the oracle reads every operation of a small history one by one
        h.ops, h.values = list(h.ops), list(h.values)
    return h


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


class _Labels:
    """The label of each value id, made on demand from Arrow's strings (a Python string
    per value would cost more than the check needs: it names a few)."""

    def __init__(self, strings: Any, index: NDArray[np.int64]) -> None:
        self.strings = strings
        self.index = index

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, v: int) -> str:
        label: str = self.strings[int(self.index[v])].as_py()
        return label


class ValuesView(_View[ValueInfo]):
    """``History.values`` of a history read into columns (``ValueInfo`` made on demand)."""

    def __init__(self, cols: Columns, labels: Sequence[str] | _Labels) -> None:
        super().__init__()
        self.cols = cols
        self.labels = labels

    def _size(self) -> int:
        return len(self.labels)

    def _item(self, v: int) -> ValueInfo:
        w, k = int(self.cols.value_writer[v]), int(self.cols.value_key[v])
        return ValueInfo(None if w == NULL else w, None if k == NULL else k, self.labels[v])
