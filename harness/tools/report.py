"""`mapfuzz report`: one self-contained HTML page for the findings of an artifacts
directory (no network at view time: inline CSS, SVG and a few lines of JS).

For each reproducer found under the directory the page shows: the finding (class, key,
explanation, replay command), a timeline with one lane per thread (the prefill and the
quiescent post phase on the ``main`` lane) and each operation a bar from its call to its
return, the witnessing operations highlighted and labelled with what they returned,
the key's linearization attempt (harness.tools.linearize), and the interleaving's
schedule points with their sites, folded around the witnesses.

Where the history comes from: a controlled reproducer is replayed (exactly: the
recorded decisions); a stress reproducer shows the history it recorded when it was
found, else (older files) the first of ``STRESS_REPLAYS`` stress replays that shows the
same class, else no timeline (the page says so).
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2

import harness
from harness.data.history import History
from harness.data.history_json import history_from_json
from harness.oracle import Violation
from harness.run.execute import RunSpec
from harness.run.inputs import InputError, load_input
from harness.run.reproducer import Reproducer
from harness.run.runner import Event
from harness.run.trust import check_named_targets, replay_command
from harness.run.worker import WorkerError
from harness.tools.explain import (
    Fold,
    Row,
    describe,
    event_rows,
    fold,
    thread_name,
    value_label,
)
from harness.tools.findings import WorkerPool
from harness.tools.linearize import attempt

STRESS_REPLAYS = 20
CONTEXT = 12
"""Schedule points shown around the witnesses' own points; the rest is folded."""
WIDTH, LEFT, LANE_H, BAR_H, TOP = 1000, 70, 44, 16, 28


@dataclass(slots=True)
class Page:
    directory: Path
    findings: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)


def collect(
    directory: Path, confirmed: Sequence[str] = ()
) -> tuple[list[tuple[Path, Reproducer]], list[tuple[str, str]]]:
    """Reproducers under ``directory`` (any depth, *.json), and the JSON files that are not
    (or that name a target library nobody confirmed: harness.run.trust)."""
    found: list[tuple[Path, Reproducer]] = []
    skipped: list[tuple[str, str]] = []
    for path in sorted(directory.rglob("*.json")):
        try:
            loaded = load_input(path)
        except InputError as exc:
            skipped.append((str(path), str(exc)))
            continue
        hint = check_named_targets(path, loaded, "report", confirmed)
        if loaded.reproducer is None:
            skipped.append((str(path), f"{path}: a {loaded.kind} file, not a reproducer"))
        elif hint:
            skipped.append((str(path), hint))
        else:
            found.append((path, loaded.reproducer))
    return found, skipped


def _history_of(
    r: Reproducer, pool: WorkerPool
) -> tuple[History | None, tuple[Violation, ...], tuple[Event, ...], str]:
    """(history, its violations, schedule-point events, where they come from)."""
    if r.spec.mode == "stress" and r.history is not None:
        return history_from_json(r.history), r.violations, (), "the history recorded when found"
    if r.spec.mode == "controlled":
        (a,) = pool.attempts(r.target_spec, r.schedule, [r.replay_spec()])
        if a.outcome is None:
            why = "the target died" if a.violations else "the replay diverged"
            return None, a.violations or r.violations, (), f"no history: {why}"
        o = a.outcome
        source = "a replay of the recorded decisions" + ("" if o.violations else
                                                         " (it no longer violates)")
        return o.history, o.violations or r.violations, o.execution.events, source
    specs = [RunSpec(mode="stress", seed=r.spec.seed + i, noise=r.spec.noise)
             for i in range(STRESS_REPLAYS)]
    for n, a in enumerate(pool.attempts(r.target_spec, r.schedule, specs), 1):
        if a.outcome is not None and any(v.cls == r.main_class for v in a.violations):
            return (a.outcome.history, a.outcome.violations, (),
                    f"stress replay {n} of {STRESS_REPLAYS} (the file holds no history)")
    return None, r.violations, (), (f"no history: the file holds none and {STRESS_REPLAYS} "
                                    "stress replays did not show the class again")


def timeline(history: History, witness: set[int]) -> dict[str, Any]:
    """Lanes and bars of the SVG timeline (coordinates computed here, drawn by the template)."""
    ops = history.ops
    threads = sorted({o.thread for o in ops})
    lane = {t: n for n, t in enumerate(threads)}
    t0 = min((o.call for o in ops), default=0)
    t1 = max((max(o.call, o.ret if o.ret is not None else o.call) for o in ops), default=1)
    span = max(t1 - t0, 1)
    scale = (WIDTH - LEFT - 20) / span

    def x(t: int) -> float:
        return round(LEFT + (t - t0) * scale, 1)

    bars = []
    for i, o in enumerate(ops):
        end = o.ret if o.ret is not None else t1
        x0 = x(o.call)
        w = max(x(end) - x0, 4.0)
        text = describe(history, o)
        bars.append({
            "index": i, "x": x0, "w": round(w, 1),
            "y": TOP + lane[o.thread] * LANE_H + (LANE_H - BAR_H) / 2,
            "witness": i in witness, "pending": o.ret is None,
            "title": f"op {i} [{thread_name(o.thread)}] {text}",
            "label": f"{o.kind} -> {text.split(' -> ')[-1]}",
            "kind": o.kind,
        })
    lanes = [{"name": thread_name(t), "y": TOP + n * LANE_H} for t, n in lane.items()]
    return {"width": WIDTH, "height": TOP + len(lanes) * LANE_H + 10, "left": LEFT,
            "lane_h": LANE_H, "bar_h": BAR_H, "lanes": lanes, "bars": bars,
            "t0": t0, "t1": t1}


def interleaving(r: Reproducer, history: History, events: tuple[Event, ...],
                 witness: set[int]) -> list[dict[str, Any]]:
    """Segments of schedule-point rows: shown around the witnesses, folded elsewhere
    (explain's folding; a folded stretch keeps its rows, collapsed in the page)."""
    rows = event_rows(r, history, events, witness)
    segments: list[dict[str, Any]] = []
    for item in fold(rows, CONTEXT):
        if isinstance(item, Fold):
            segments.append({"folded": True, "summary": item.text,
                             "rows": [_row(x) for x in item.rows]})
            continue
        if not segments or segments[-1]["folded"]:
            segments.append({"folded": False, "summary": "", "rows": []})
        segments[-1]["rows"].append(_row(item))
    return segments


def _row(row: Row) -> dict[str, Any]:
    return {"step": row.step, "thread": thread_name(row.thread), "text": row.text,
            "op": row.op, "witness": row.witness}


def finding_view(path: Path, r: Reproducer, pool: WorkerPool, anchor: str) -> dict[str, Any]:
    try:
        history, violations, events, source = _history_of(r, pool)
    except WorkerError as exc:
        history, violations, events, source = None, r.violations, (), \
            f"no history: {str(exc).splitlines()[0]}"
    main = next((v for v in violations if v.cls == r.main_class), None) or \
        (violations[0] if violations else None)
    view: dict[str, Any] = {
        "anchor": anchor, "file": str(path), "cls": r.main_class,
        "key": main.key if main else None,
        "explanation": main.explanation if main else "no violation recorded",
        "replay": replay_command(path, r.target_spec), "mode": r.spec.mode, "target": r.target_name,
        "variant": r.schedule.config.variant, "source": source,
        "threads": len(r.schedule.threads), "timeline": None, "witnesses": [],
        "lin": None, "segments": [], "events": len(events),
    }
    if history is None or main is None:
        return view
    witness = {i for i in main.ops if 0 <= i < len(history.ops)}
    view["timeline"] = timeline(history, witness)
    view["witnesses"] = [f"op {i} [{thread_name(history.ops[i].thread)}] "
                         f"{describe(history, history.ops[i])}" for i in sorted(witness)]
    if main.key is not None:
        at = attempt(history, main.key)
        if at is not None:
            held = at.held
            view["lin"] = {
                "count": len(at.ops), "complete": at.complete, "exhausted": at.exhausted,
                "steps": at.steps,
                "order": [describe(history, history.ops[i]) for i in at.order],
                "held": "absent" if held is None else value_label(history, held),
                "stuck": [(describe(history, history.ops[i]), why) for i, why in at.stuck],
                "outside": [w for i, w in zip(sorted(witness), view["witnesses"], strict=True)
                            if i not in at.ops],
            }
    if events:
        view["segments"] = interleaving(r, history, events, witness)
    return view


def build(directory: Path, confirmed: Sequence[str] = ()) -> Page:
    page = Page(directory)
    found, page.skipped = collect(directory, confirmed)
    with WorkerPool() as pool:
        for n, (path, r) in enumerate(found, 1):
            page.findings.append(finding_view(path, r, pool, f"f{n}"))
    return page


def render(page: Page) -> str:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("harness.tools", "templates"),
        autoescape=True, undefined=jinja2.StrictUndefined,
        trim_blocks=True, lstrip_blocks=True,
    )
    classes = Counter(f["cls"] for f in page.findings)
    modes = Counter(f["mode"] for f in page.findings)
    return env.get_template("report.html.j2").render(
        page=page, classes=sorted(classes.items()), modes=sorted(modes.items()),
        version=harness.__version__,
        generated=dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        data=json.dumps({"findings": len(page.findings)}),
    )
