"""Naming operations and values in violation sentences."""

from __future__ import annotations

from harness.data.history import TORN, History


class Namer:
    """Short display forms: ``t1 get (read t0#2)``, ``t0 put t0#3``, ``main delete``."""

    __slots__ = ("h",)

    def __init__(self, history: History) -> None:
        self.h = history

    def value(self, v: int | None) -> str:
        if v is None or v < -1:
            return "absent"
        if v == TORN:
            return "torn bytes"
        if 0 <= v < len(self.h.values):
            return self.h.values[v].label
        return f"value #{v}"

    def key(self, k: int | None) -> str | None:
        if k is None:
            return None
        return self.h.keys[k] if 0 <= k < len(self.h.keys) else f"key #{k}"

    def op(self, i: int) -> str:
        o = self.h.ops[i]
        who = "main" if o.thread < 0 else f"t{o.thread}"
        pend = " (never returned)" if o.ret is None else ""
        if o.kind == "get":
            res = f"read {self.value(o.out)}" if o.status == "found" else o.status
            return f"{who} get ({res}){pend}"
        if o.kind in ("put", "put_if_absent"):
            res = ""
            if o.ret is not None:
                res = f" ({o.status}"
                if o.out is not None:
                    res += f", old {self.value(o.out)}" if o.kind == "put" else (
                        f", current {self.value(o.out)}")
                res += ")"
            return f"{who} {o.kind} {self.value(o.arg)}{res}{pend}"
        if o.kind == "delete":
            res = ""
            if o.ret is not None:
                res = " (absent)" if o.status == "absent" else " (removed"
                if o.status == "removed":
                    res += f" {self.value(o.out)})" if o.out is not None else ")"
            return f"{who} delete{res}{pend}"
        if o.kind == "len":
            return f"{who} len (= {o.length}){pend}"
        return f"{who} {o.kind}{pend}"

    def is_read(self, i: int) -> bool:
        o = self.h.ops[i]
        return (
            o.kind in ("get", "iterate")
            or (o.kind == "put_if_absent" and o.status == "present")
            or (o.kind == "delete" and o.status == "absent")
        )
