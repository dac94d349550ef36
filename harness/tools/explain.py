"""`mapfuzz explain`: the interleaving around a violation, one column per thread.

The replayed execution's events (schedule points, in the order the controlled
scheduler ran them) are laid out as rows; each thread gets a column holding its
site names, with operation calls and returns spelled out, and the structural
events the target reported (a growth began or ended) in the thread that reported them,
between the schedule points they came between. Every operation that witnesses the
violation is marked (``*`` in the step column, and in red) on each of its rows, the
prefill is listed, and a legend says how values are named. Rows far from the witnesses
are folded into one line saying how many steps of which threads it hides. Cells wrap
instead of cutting, so keys stay whole in 80 columns.

``event_rows`` and ``fold`` are shared with the HTML report.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from harness.data.history import TORN, History, Operation
from harness.run.execute import Outcome
from harness.run.reproducer import Reproducer
from harness.run.runner import Event, StructEvent

EV_POINT, EV_BLOCKED, EV_CALL, EV_RETURN = range(4)

LEGEND = ("values: pre#N is the Nth value the prefill wrote, tK#N the Nth value thread K "
          "wrote (every written value is unique), TORN bytes that no single write produced; "
          "main is the sequential prefill and the quiescent checks after the threads")


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


def thread_name(thread: int) -> str:
    return "main" if thread < 0 else f"t{thread}"


def op_index_map(r: Reproducer) -> dict[tuple[int, int], int]:
    """(thread, position in its list) -> index in history.ops."""
    base = len(r.schedule.prefill)
    out: dict[tuple[int, int], int] = {}
    for t, ops in enumerate(r.schedule.threads):
        for i in range(len(ops)):
            out[(t, i)] = base + i
        base += len(ops)
    return out


@dataclass(frozen=True, slots=True)
class Row:
    """One schedule point: its step, thread, text (a call, a return or a site), the
    operation it belongs to (index into history.ops) and whether that one witnesses."""

    step: int
    thread: int
    text: str
    site: str
    op: int | None
    witness: bool
    structural: bool = False
    """A structural event the target reported (before schedule point ``step``), not a
    schedule point: always shown, never counted as a step."""


@dataclass(frozen=True, slots=True)
class Fold:
    """Rows left out between two shown stretches: how many, of which threads."""

    first: int
    last: int
    threads: tuple[tuple[int, int], ...]
    """(thread, steps) in thread order."""
    rows: tuple[Row, ...] = ()
    """The rows folded away."""

    @property
    def text(self) -> str:
        per = ", ".join(f"{thread_name(t)} {n}" for t, n in self.threads)
        n = self.last - self.first + 1
        return f"... {n} step{'s' if n != 1 else ''} ({self.first}..{self.last}) folded: {per}"


def event_rows(r: Reproducer, history: History, events: tuple[Event, ...],
               witness: set[int], structural: tuple[StructEvent, ...] = ()) -> list[Row]:
    """One row per schedule point, with the target's structural events (MF_CAP_EVENTS)
    as rows of their own before the point they preceded."""
    index = op_index_map(r)
    before: dict[int, list[StructEvent]] = {}
    for se in structural:
        if se.step is not None:
            before.setdefault(se.step, []).append(se)
    rows = []
    for n, e in enumerate(events):
        for se in before.get(n, ()):
            rows.append(Row(n, se.thread, f"== {se.kind} ({se.arg}) ==", se.kind, None, False,
                            structural=True))
        op = index.get((e.thread, e.op))
        if e.kind == EV_CALL and op is not None:
            # "put_if_absent str:'k', t0#1": breaks at spaces, so narrow columns never
            # split a key
            text = "-> " + describe(history, history.ops[op]).split(" -> ")[0] \
                .replace("(", " ", 1).removesuffix(")").removesuffix(" ")
        elif e.kind == EV_RETURN and op is not None:
            text = "<- " + describe(history, history.ops[op]).split(" -> ")[-1]
        else:
            text = e.site + (" (blocked)" if e.kind == EV_BLOCKED else "")
        rows.append(Row(n, e.thread, text, e.site, op, op in witness))
    return rows


def fold(rows: list[Row], context: int) -> list[Row | Fold]:
    """The rows within ``context`` steps of a witnessing operation's call or return
    (all of them when no operation witnesses); longer stretches between are folded."""
    hot = [n for n, row in enumerate(rows)
           if row.witness and (row.text.startswith(("->", "<-")))]
    if not hot:
        hot = [n for n, row in enumerate(rows) if row.witness]
    if not hot:
        return list(rows)
    shown = {m for n in hot for m in range(n - context, n + context + 1)}
    # a witness's own points stay visible even deep inside a long operation, and so
    # does every structural event (a growth beginning is what a reader looks for)
    shown |= {n for n, row in enumerate(rows) if row.witness or row.structural}
    out: list[Row | Fold] = []
    gap: list[Row] = []

    def flush() -> None:
        if not gap:
            return
        if len(gap) <= 2:
            out.extend(gap)
        else:
            count = Counter(row.thread for row in gap)
            out.append(Fold(gap[0].step, gap[-1].step, tuple(sorted(count.items())),
                            tuple(gap)))
        gap.clear()

    for n, row in enumerate(rows):
        if n in shown:
            flush()
            out.append(row)
        else:
            gap.append(row)
    flush()
    return out


def _witness_ops(r: Reproducer, outcome: Outcome) -> tuple[set[int], list[int]]:
    violations = outcome.violations or r.violations
    ops = [i for v in violations for i in v.ops if 0 <= i < len(outcome.history.ops)]
    return set(ops), sorted(set(ops))


COLUMN_MIN = 24
"""Narrowest thread column: below it (many threads, a narrow terminal) the steps are
laid out as one log with a thread column instead of one column per thread."""


def render(
    r: Reproducer, outcome: Outcome, *, context: int = 12, width: int = 80
) -> RenderableType:
    history = outcome.history
    events = outcome.execution.events
    violations = outcome.violations or r.violations
    witness, ordered = _witness_ops(r, outcome)
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
    if ordered:
        parts.append(Text("witnessing operations (* below):"))
        for i in ordered:
            op = history.ops[i]
            parts.append(Text(f"  op {i} [{thread_name(op.thread)}] {describe(history, op)}",
                              style="red"))
    prefill = len(r.schedule.prefill)
    if prefill:
        shown = [describe(history, history.ops[i]).split(" -> ")[0] for i in range(prefill)]
        more = f" (+{prefill - 8} more)" if prefill > 8 else ""
        parts.append(Text(f"prefill ({prefill} sequential put{'s' if prefill != 1 else ''} "
                          f"before the threads start): {', '.join(shown[:8])}{more}"))
    parts.append(Text(LEGEND, style="dim"))
    if not events:
        parts.append(Text("(no schedule events recorded: stress mode has no interleaving log)"))
        return Group(*parts)
    nthreads = len(r.schedule.threads)
    as_log = 8 + nthreads * (COLUMN_MIN + 3) > width
    table = Table(title=f"{len(events)} schedule points (* = a witnessing operation's)",
                  show_lines=False, pad_edge=False)
    table.add_column("step", justify="right", style="dim", no_wrap=True)
    columns = ["thread", "event"] if as_log else [f"thread {t}" for t in range(nthreads)]
    for name in columns:
        table.add_column(name, overflow="fold", no_wrap=name == "thread")
    ncols = len(columns)
    rows = event_rows(r, history, events, witness, outcome.execution.structural)
    for item in fold(rows, context):
        if isinstance(item, Fold):
            table.add_row("", *([""] * (ncols - 1)), Text(item.text, style="dim italic")) \
                if as_log else \
                table.add_row("", Text(item.text, style="dim italic"), *([""] * (ncols - 1)))
            continue
        cell = Text(item.text, style="" if item.text.startswith(("->", "<-")) else "dim")
        step = f"*{item.step}" if item.witness else str(item.step)
        if item.structural:
            cell, step = Text(item.text, style="bold magenta"), ""
        if item.witness:
            cell.stylize("bold red")
        row: list[RenderableType] = [step, *([""] * ncols)]
        if as_log:
            row[1:] = [thread_name(item.thread), cell]
        elif 0 <= item.thread < nthreads:
            row[1 + item.thread] = cell
        table.add_row(*row)
    parts.append(table)
    return Group(*parts)


def explain_json(r: Reproducer, outcome: Outcome, *, context: int = 12) -> dict[str, Any]:
    """What ``render`` shows, for machines: the violations, the witnessing operations,
    the prefill and the (folded) schedule points."""
    history = outcome.history
    witness, ordered = _witness_ops(r, outcome)
    rows = fold(event_rows(r, history, outcome.execution.events, witness,
                           outcome.execution.structural), context)
    return {
        "reproduced": bool(outcome.violations),
        "violations": [{"class": v.cls, "key": v.key, "ops": list(v.ops),
                        "explanation": v.explanation}
                       for v in (outcome.violations or r.violations)],
        "witnesses": [{"op": i, "thread": thread_name(history.ops[i].thread),
                       "text": describe(history, history.ops[i])} for i in ordered],
        "prefill": [describe(history, history.ops[i])
                    for i in range(len(r.schedule.prefill))],
        "events": [
            {"folded": item.last - item.first + 1, "first": item.first, "last": item.last}
            if isinstance(item, Fold) else
            {"step": item.step, "thread": thread_name(item.thread), "text": item.text,
             "op": item.op, "witness": item.witness, "structural": item.structural}
            for item in rows
        ],
    }
