"""Per-key register events: the oracle's normal form of a map operation.

An event is a tuple ``(s, f, kind, pre, post, op)``: the interval ``[s, f]`` (``f`` is
``INF`` for an operation that never returned), the kind, the value it requires before
(``pre``), the value it leaves (``post``) and the index of the operation in
``History.ops``. Values are value ids; ``BOT`` is "absent".

=====  ===========================================  ==========================
kind   meaning (atomic step on the key's register)  made from
=====  ===========================================  ==========================
R      state == pre; unchanged                      get, put_if_absent present
                                                    (cur), delete absent, items
RN     state != BOT; unchanged                      put_if_absent present (no cur)
W      state == pre; becomes post                   put inserted/replaced (old),
                                                    put_if_absent inserted,
                                                    delete removed (old)
WN     state != BOT; becomes post                   put replaced / delete removed
                                                    without old
WB     optional; any state; becomes post            pending (or failed) put, delete
WP     optional; if state == BOT becomes post       pending (or failed) put_if_absent
=====  ===========================================  ==========================
"""

from __future__ import annotations

BOT = -2
"""Value id of "absent" inside the oracle (``History`` uses None)."""
INF = 1 << 62
NEG = -(1 << 62)

R, RN, W, WN, WB, WP = 0, 1, 2, 3, 4, 5
KIND_NAMES = ("R", "RN", "W", "WN", "WB", "WP")

Event = tuple[int, int, int, int, int, int]
