"""A runner history as one JSON object, so a stress reproducer can keep the history it
was found with (a stress replay need not show the same interleaving again).

Form (``HISTORY_FORMAT``)::

    {"format": "mapfuzz-history/1",
     "keys": [str, ...], "key_known": [bool, ...],
     "values": [[writer | null, key | null, label], ...],
     "ops": [[thread, kind, key | null, call, return | null, status, arg | null,
              out | null, items | null, length | null], ...],
     "unique_writes": bool, "quiescent_from": int | null,
     "exact_len": bool, "concurrent_iterate": bool}

Ids are those of :class:`~harness.data.history.History`, so a violation's operation
indices keep pointing at the same operations after a round trip.
"""

from __future__ import annotations

from typing import Any

from harness.data.history import History, Operation, ValueInfo

HISTORY_FORMAT = "mapfuzz-history/1"


class HistoryJSONError(ValueError):
    """A history object that cannot be read; the message names the field."""


def history_to_json(h: History) -> dict[str, Any]:
    return {
        "format": HISTORY_FORMAT,
        "keys": list(h.keys),
        "key_known": list(h.key_known),
        "values": [[v.writer, v.key, v.label] for v in h.values],
        "ops": [
            [o.thread, o.kind, o.key, o.call, o.ret, o.status, o.arg, o.out,
             None if o.items is None else [list(kv) for kv in o.items], o.length]
            for o in h.ops
        ],
        "unique_writes": h.unique_writes,
        "quiescent_from": h.quiescent_from,
        "exact_len": h.exact_len,
        "concurrent_iterate": h.concurrent_iterate,
    }


def history_from_json(obj: Any) -> History:
    if not isinstance(obj, dict) or obj.get("format") != HISTORY_FORMAT:
        raise HistoryJSONError(f"history: expected an object with format {HISTORY_FORMAT!r}")
    try:
        ops = [
            Operation(int(t), str(kind), key, int(call), ret, str(status), arg, out,
                      None if items is None else [(int(k), int(v)) for k, v in items], length)
            for t, kind, key, call, ret, status, arg, out, items, length in obj["ops"]
        ]
        return History(
            ops=ops,
            keys=[str(k) for k in obj["keys"]],
            key_known=[bool(k) for k in obj["key_known"]],
            values=[ValueInfo(w, k, str(label)) for w, k, label in obj["values"]],
            unique_writes=bool(obj["unique_writes"]),
            quiescent_from=obj.get("quiescent_from"),
            exact_len=bool(obj.get("exact_len", False)),
            concurrent_iterate=bool(obj.get("concurrent_iterate", True)),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise HistoryJSONError(f"history: malformed ({type(exc).__name__}: {exc})") from exc
