"""The history of one execution, in the form the oracle reads.

Both sources produce it: the runner (harness/run/runner.py, from the C records) and
`mapfuzz check-history` (harness/data/history_file.py, from JSON lines).

Keys and values are interned to dense integer ids so the oracle works on ints:

* ``keys[k]`` is the display form of key id ``k`` (``"int:42"``, ``"str:'a'"``,
  ``"bytes:6162"``, or the user's string for JSON-lines histories). A key an
  iteration returned that no operation names gets a fresh id with
  ``key_known[k] = False``.
* ``values[v]`` describes value id ``v``: the write that produced it (``writer``:
  the index of the operation in ``ops``, or None when no operation of the history
  wrote it) and the key it was written to (``key``, None if unknown). Two special
  ids exist: ``TORN`` (bytes that fail the value self-check) and, for reads of
  "absent", ``None`` in ``Operation.out``.

Operation fields, by kind (``status`` strings as in docs/history.md):

=============  ==============================  =====================================
kind           status                          out
=============  ==============================  =====================================
get            found | absent                  value id read (found), else None
put            inserted | replaced             old value id if reported, else None
put_if_absent  inserted | present              current value id if reported, else None
delete         removed | absent                old value id if reported, else None
iterate        done                            None; ``items`` holds (key id, value id)
len            done                            None; ``length`` holds the result
=============  ==============================  =====================================

``arg`` is the value id a put/put_if_absent wrote. ``call``/``ret`` are integer
timestamps; intervals are closed (a precedes b only when a.ret < b.call);
``ret is None`` means the operation never returned. ``thread`` is -1 for the
sequential prefill and post phases of an execution. ``status == "error"`` marks
a target error (the oracle reports it as target-error).

Columnar form (for big histories)
--------------------------------

:func:`build_columns` gives the operations as numpy arrays (:class:`Columns`, one
entry per operation, in ``ops`` order), so that the oracle's bulk path
(``harness/oracle/vector.py``) works on arrays instead of a million ``Operation``
objects. A history never carries columns: the oracle builds them from ``ops`` at the
start of every check, so they cannot describe anything but the operations being
checked (an edited operation, a list of operations swapped for another of the same
length: the next check sees the edit). ``ops`` stays the general form: explanations,
witnesses, classification and small histories use only ``ops``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import repeat
from operator import attrgetter
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

    import numpy as np
    from numpy.typing import NDArray

TORN = -1
"""Value id of bytes that fail the self-check (a mix of writes, truncated, or poisoned)."""

OP_KINDS = ("get", "put", "put_if_absent", "delete", "iterate", "len")

STATUSES = ("found", "absent", "inserted", "replaced", "removed", "present", "done",
            "error", "pending")
"""Status strings with a code in :class:`Columns` (the index); any other string gets
code ``len(STATUSES)``. JSON-lines histories mark an operation that never returned
``pending``."""

KIND_CODE = {k: i for i, k in enumerate(OP_KINDS)}
"""Kind string -> code in :class:`Columns`; any other kind gets ``len(OP_KINDS)``."""
STATUS_CODE = {st: i for i, st in enumerate(STATUSES)}
"""Status string -> code in :class:`Columns`; any other status gets ``len(STATUSES)``."""

NULL = -(1 << 63)
"""The entry of an int64 column for None (``key``, ``ret``, ``arg``, ``out``,
``value_key``, ``value_writer``)."""


@dataclass(slots=True)
class Operation:
    thread: int
    kind: str
    key: int | None
    call: int
    ret: int | None
    status: str
    arg: int | None = None
    out: int | None = None
    items: list[tuple[int, int]] | None = None
    length: int | None = None
    line: int | None = None
    """1-based line number in a JSON-lines history; None for runner histories."""


@dataclass(slots=True)
class ValueInfo:
    writer: int | None
    key: int | None
    label: str
    """Display form: the write that produced it (``"t1#3"``) or the user's string."""


@dataclass(slots=True)
class History:
    ops: list[Operation] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)
    key_known: list[bool] = field(default_factory=list)
    values: list[ValueInfo] = field(default_factory=list)
    unique_writes: bool = True
    """True when every write wrote a value no other write wrote (runner histories
    always; JSON-lines histories when the user's values happen to be unique)."""
    quiescent_from: int | None = None
    """Index in ``ops`` where the quiescent post phase starts (runner histories)."""
    exact_len: bool = False
    """The target promises len is exact even while threads run (MF_CAP_EXACT_LEN)."""
    concurrent_iterate: bool = True
    """The target allows iterate concurrently with writers (MF_CAP_ITERATE)."""


@dataclass(frozen=True, slots=True, eq=False)
class Columns:
    """The operations of a history as numpy arrays (one entry per operation, index
    ``i`` is ``ops[i]``), plus two arrays over value ids.

    ============  =======  ========================================================
    array         dtype    entry
    ============  =======  ========================================================
    thread        int64    ``Operation.thread``
    kind          int8     ``KIND_CODE[kind]`` (``len(OP_KINDS)`` for anything else)
    key           int64    key id, or ``NULL`` for None
    call          int64    ``Operation.call``
    ret           int64    ``Operation.ret``, or ``NULL`` for an operation that
                           never returned
    status        int8     ``STATUS_CODE[status]`` (``len(STATUSES)`` otherwise)
    arg           int64    value id written, or ``NULL``
    out           int64    value id returned (``TORN`` included), or ``NULL``
    value_key     int64    per value id: ``ValueInfo.key``, or ``NULL``
    value_writer  int64    per value id: ``ValueInfo.writer``, or ``NULL``
    ============  =======  ========================================================

    ``items``, ``length`` and ``line`` have no column (histories with iterate or len
    always take the per-operation path).
    """

    thread: NDArray[np.int64]
    kind: NDArray[np.int8]
    key: NDArray[np.int64]
    call: NDArray[np.int64]
    ret: NDArray[np.int64]
    status: NDArray[np.int8]
    arg: NDArray[np.int64]
    out: NDArray[np.int64]
    value_key: NDArray[np.int64]
    value_writer: NDArray[np.int64]

    OP_FIELDS = ("thread", "kind", "key", "call", "ret", "status", "arg", "out")
    VALUE_FIELDS = ("value_key", "value_writer")

    def __len__(self) -> int:
        return len(self.kind)

    def equals(self, other: Columns) -> bool:
        """Every array equal (same dtype, same entries)."""
        import numpy as np

        for name in self.OP_FIELDS + self.VALUE_FIELDS:
            a, b = getattr(self, name), getattr(other, name)
            if a.dtype != b.dtype or not np.array_equal(a, b):
                return False
        return True


def _int_column(vals: list[object], nullable: bool) -> NDArray[np.int64]:
    """``vals`` as int64, None as ``NULL`` (only when ``nullable``). TypeError for an
    entry that is not an ``int`` (bool and float included) or is ``NULL`` itself,
    OverflowError for one that does not fit."""
    import numpy as np

    types = set(map(type, vals))
    allowed = {int, type(None)} if nullable else {int}
    if not types <= allowed:
        raise TypeError
    nnone = vals.count(None) if type(None) in types else 0
    if nnone:
        vals = [NULL if x is None else x for x in vals]
    arr = np.array(vals, dtype=np.int64).reshape(len(vals))
    if np.count_nonzero(arr == NULL) != nnone:  # NULL itself: no faithful form
        raise TypeError
    return arr


def build_columns(history: History) -> Columns | None:
    """The columns of ``history.ops`` / ``history.values``.

    None when some entry has no faithful int64 form: a thread, key, time or value id
    that is not an ``int`` (bool and float included), does not fit, or is ``NULL``.
    Each field is read from all operations at once (``attrgetter`` over the list);
    about a second per million operations."""
    import numpy as np

    ops = history.ops
    values = history.values
    n = len(ops)

    def field_of(name: str, objs: list[Operation] | list[ValueInfo]) -> list[object]:
        return list(map(attrgetter(name), objs))

    def codes(name: str, table: dict[str, int]) -> NDArray[np.int8]:
        get: Callable[[object, int], int] = table.get  # type: ignore[assignment]
        return np.fromiter(map(get, field_of(name, ops), repeat(len(table))), np.int8, n)

    try:
        cols = Columns(
            thread=_int_column(field_of("thread", ops), False),
            kind=codes("kind", KIND_CODE),
            key=_int_column(field_of("key", ops), True),
            call=_int_column(field_of("call", ops), False),
            ret=_int_column(field_of("ret", ops), True),
            status=codes("status", STATUS_CODE),
            arg=_int_column(field_of("arg", ops), True),
            out=_int_column(field_of("out", ops), True),
            value_key=_int_column(field_of("key", values), True),
            value_writer=_int_column(field_of("writer", values), True),
        )
    except (TypeError, ValueError, OverflowError):
        return None
    return cols
