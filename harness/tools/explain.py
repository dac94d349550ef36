"""`mapfuzz explain`: the interleaving around a violation, one column per thread.

The replayed execution's events (schedule points, in the order the controlled
scheduler ran them) are laid out as rows; each thread gets a column holding its
site names, with operation calls and returns spelled out, and the structural
events the target reported (a growth began or ended) in the thread that reported
them, between the schedule points they came between. The operations that
witness the violation are highlighted, and only the window around them is shown.
"""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from harness.data.history import TORN, History, Operation
from harness.run.execute import Outcome
from harness.run.reproducer import Reproducer
from harness.run.runner import StructEvent

EV_POINT, EV_BLOCKED, EV_CALL, EV_RETURN = range(4)


def value_label(history: History, vid: int | None) -> str:
    if vid is None:
        return "absent"
    if vid == TORN:
        return "TORN"
    return history.values[vid].label


def describe(history: History, op: Operation) -> str:
    key = history.keys[op.key] if op.key is not None else ""
    if op.kind in ("put", "put_if_absent"):
        text = f"{op.kind}({key}, {value_label(history, op.arg)})"
    elif op.kind in ("get", "delete"):
        text = f"{op.kind}({key})"
    else:
        text = f"{op.kind}()"
    result = op.status
    if op.out is not None:
        result += f" {value_label(history, op.out)}"
    if op.kind == "len" and op.length is not None:
        result = str(op.length)
    if op.kind == "iterate" and op.items is not None:
        result = ", ".join(
            f"{history.keys[k]}={value_label(history, v)}" for k, v in op.items[:6]
        ) + (" ..." if len(op.items) > 6 else "")
    if op.ret is None:
        result = "never returned"
    return f"{text} -> {result}"


def op_index_map(r: Reproducer) -> dict[tuple[int, int], int]:
    """(thread, position in its list) -> index in history.ops."""
    base = len(r.schedule.prefill)
    out: dict[tuple[int, int], int] = {}
    for t, ops in enumerate(r.schedule.threads):
        for i in range(len(ops)):
            out[(t, i)] = base + i
        base += len(ops)
    return out


def render(r: Reproducer, outcome: Outcome, *, context: int = 12) -> RenderableType:
    history = outcome.history
    events = outcome.execution.events
    violations = outcome.violations or r.violations
    parts: list[RenderableType] = []
    head = Text()
    head.append(f"{r.target_name}", style="bold")
    if r.schedule.config.variant:
        head.append(f" variant {r.schedule.config.variant}")
    head.append(f", {r.spec.mode} replay: ")
    if outcome.violations:
        head.append("violation reproduced", style="bold red")
    else:
        head.append("no violation this time", style="bold yellow")
    parts.append(head)
    for v in violations:
        line = Text(f"{v.cls}", style="bold red")
        line.append(f" on key {v.key}: " if v.key else ": ")
        line.append(v.explanation)
        parts.append(line)
        for i in v.ops:
            if 0 <= i < len(history.ops):
                op = history.ops[i]
                who = f"t{op.thread}" if op.thread >= 0 else "seq"
                parts.append(Text(f"  op {i} [{who}] {describe(history, op)}", style="red"))
    if not events:
        parts.append(Text("(no schedule events recorded: stress mode has no interleaving log)"))
        return Group(*parts)
    index = op_index_map(r)
    witness = {i for v in violations for i in v.ops}
    hot = [n for n, e in enumerate(events) if index.get((e.thread, e.op)) in witness]
    lo, hi = (0, len(events))
    if hot:
        lo, hi = max(0, hot[0] - context), min(len(events), hot[-1] + context + 1)
    nthreads = len(r.schedule.threads)
    table = Table(title=f"events {lo}..{hi - 1} of {len(events)}", show_lines=False)
    table.add_column("step", justify="right", style="dim")
    for t in range(nthreads):
        table.add_column(f"thread {t}")
    structural: dict[int, list[StructEvent]] = {}
    for se in outcome.execution.structural:
        if se.step is not None:
            structural.setdefault(se.step, []).append(se)
    for n in range(lo, hi):
        for se in structural.get(n, ()):
            # a structural event the target reported (MF_CAP_EVENTS), before event n
            row: list[RenderableType] = ["", *([""] * nthreads)]
            if 0 <= se.thread < nthreads:
                row[1 + se.thread] = Text(f"== {se.kind} ({se.arg}) ==", style="bold magenta")
            table.add_row(*row)
        e = events[n]
        hist_index = index.get((e.thread, e.op))
        if e.kind == EV_CALL and hist_index is not None:
            cell = Text(f"-> {describe(history, history.ops[hist_index]).split(' -> ')[0]}")
        elif e.kind == EV_RETURN and hist_index is not None:
            cell = Text(f"<- {describe(history, history.ops[hist_index]).split(' -> ')[-1]}")
        else:
            cell = Text(e.site + (" (blocked)" if e.kind == EV_BLOCKED else ""), style="dim")
        if hist_index in witness:
            cell.stylize("bold red")
        row = [str(n), *([""] * nthreads)]
        if 0 <= e.thread < nthreads:
            row[1 + e.thread] = cell
        table.add_row(*row)
    parts.append(table)
    return Group(*parts)
