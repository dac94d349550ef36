"""Stage 2, the oracle: could a recorded map history have happened in some sequential order?

``check(history)`` returns a :class:`Verdict` (``ok`` / ``violation`` / ``unknown``, see
its docstring) with classified :class:`Violation` findings. Classes are in
:data:`CLASSES`. Violations are never guesses: when the bounded search cannot decide a
key, the key is reported as unknown instead. Big histories clear keys in bulk
(``vector``), on one process per core (``partition``). May import ``data`` only.
"""

from .checker import check
from .verdict import CLASSES, Verdict, Violation

__all__ = ["CLASSES", "Verdict", "Violation", "check"]
