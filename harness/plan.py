"""A schedule compiled for the runner: encoded keys and values, ops as small ints.

Contract between harness/schedule.py (which compiles a Schedule into a Plan, see
``compile_schedule``), harness/runner.py (which hands a Plan to the C runner) and
the oracle (which reads the History that ``to_history`` builds from a Plan and an
Execution).

An op is ``(kind, key, value)``: kind is one of the ``OP_*`` codes (equal to the
C side's MF_OP_*), key an index into ``keys`` (0 for iterate/len), value an index
into ``values`` for put/put_if_absent and ``NO_VALUE`` otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass

OP_GET, OP_PUT, OP_PUT_IF_ABSENT, OP_DELETE, OP_ITERATE, OP_LEN = range(6)
OP_NAMES = ("get", "put", "put_if_absent", "delete", "iterate", "len")
NO_VALUE = -1

OpCode = tuple[int, int, int]


@dataclass(frozen=True, slots=True)
class Plan:
    hash_seed: int
    capacity: int
    variant: int
    """Index into the target's variants + 1; 0 is the correct map."""
    keys: tuple[bytes, ...]
    """Encoded keys, tag byte first (harness/values.py encodes them)."""
    values: tuple[bytes, ...]
    """Encoded, self-checking values; every one unique."""
    value_key: tuple[int, ...]
    """value_key[v]: the key index value v is written to."""
    prefill: tuple[OpCode, ...]
    threads: tuple[tuple[OpCode, ...], ...]
