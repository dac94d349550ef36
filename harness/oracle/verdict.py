"""Result types of the oracle: :class:`Verdict` and :class:`Violation`."""

from __future__ import annotations

from dataclasses import dataclass, field

CLASSES: tuple[str, ...] = (
    "torn-value",
    "phantom-value",
    "lost-write",
    "stale-read",
    "resurrected-delete",
    "duplicate-key",
    "missing-key",
    "len-mismatch",
    "invariant",
    "crash",
    "hang",
    "target-error",
)
"""Every violation class mapfuzz reports. The oracle produces all but ``invariant``,
``crash`` and ``hang``, which the CLI derives from the execution's status."""


@dataclass(frozen=True)
class Violation:
    """One finding: its class, the key (display form, None for whole-map findings such
    as a wrong ``len``), the few operations that witness it (indices into
    ``History.ops``) and one sentence naming those operations."""

    cls: str
    key: str | None
    ops: tuple[int, ...]
    explanation: str


@dataclass(frozen=True)
class Verdict:
    """What the oracle concluded about one history.

    ``status`` is tri-state, as in Porcupine:

    * ``"ok"``: the history is linearizable (every key's operations fit some sequential
      order consistent with real time) and no value, iteration or len rule is broken.
    * ``"violation"``: at least one finding in ``violations``. Each one is certain: the
      history cannot have come from a correct map (no sequential order explains it, or
      it read bytes no write produced, or an iteration broke Go's rules).
    * ``"unknown"``: no violation was found, but for the keys in ``unknown_keys`` the
      bounded search ran out of budget before deciding. Those keys are neither cleared
      nor accused; re-check with a larger ``budget`` (or treat as "not shown faulty").

    ``stats`` counts what was done (``keys``, ``ops``, ``dfs_steps``, ``fallback_keys``...).
    """

    status: str
    violations: tuple[Violation, ...] = ()
    unknown_keys: tuple[str, ...] = ()
    stats: dict[str, int] = field(default_factory=dict)
