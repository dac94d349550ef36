"""The history of one execution, in the form the oracle reads.

Both sources produce it: the runner (harness/runner.py, from the C records) and
`mapfuzz check-history` (harness/history_file.py, from JSON lines).

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

Operation fields, by kind (``status`` strings as in DESIGN.md section 6):

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
"""

from __future__ import annotations

from dataclasses import dataclass, field

TORN = -1
"""Value id of bytes that fail the self-check (a mix of writes, truncated, or poisoned)."""

OP_KINDS = ("get", "put", "put_if_absent", "delete", "iterate", "len")


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
