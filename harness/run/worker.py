"""Executions in a child process, so a target that crashes or hangs is a finding.

The parent (the CLI) talks to one worker process over a pipe. Before each
execution the worker stores the input's index in shared memory; when the worker
dies by a signal, or stops answering past its deadline, the parent knows exactly
which input killed it, kills and restarts the worker, and reports ``crash`` or
``hang`` for that input. The fuzz loop itself (generate, run, judge) runs inside
the worker in batches bounded in time, so the pipe carries only findings and
counts.

Call order: ``Worker(target_spec)`` -> ``fuzz_batch(...)`` / ``run(...)`` any number
of times -> ``close()``. After a ``WorkerDied`` the same Worker restarts itself on
the next call.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import signal
import time
import traceback
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any, Protocol

from harness.data.history_json import history_to_json
from harness.data.plan import Plan, compile_schedule
from harness.data.schedule import Schedule, from_json, to_json
from harness.oracle import Violation
from harness.run.execute import ExecutionSetupError, Outcome, RunSpec, execute
from harness.run.runner import Runner
from harness.run.target import Target

_CTX = mp.get_context("spawn")


class Input(Protocol):
    """Input ``index`` of a campaign, ready to run (harness.search.engine.Input)."""

    @property
    def index(self) -> int: ...
    @property
    def schedule(self) -> Schedule: ...
    @property
    def plan(self) -> Plan: ...
    @property
    def spec(self) -> RunSpec: ...


class InputSource(Protocol):
    """What a fuzz batch draws its inputs from (harness.search.engine.RandomEngine):
    inputs ``start, start + 1, ...``, each a pure function of its index. It is sent to
    the worker process, so it must pickle."""

    def inputs(self, variants: Sequence[str], start: int = 0) -> Iterator[Input]: ...


class WorkerDied(Exception):
    """The worker process died (signal) or hung while running input ``index``."""

    def __init__(self, kind: str, index: int, detail: str) -> None:
        super().__init__(f"{kind} at input {index}: {detail}")
        self.kind = kind
        self.index = index
        self.detail = detail

    def violation(self) -> Violation:
        what = "crashed" if self.kind == "crash" else "hung"
        return Violation(
            cls=self.kind, key=None, ops=(), explanation=f"the target {what} ({self.detail})"
        )


class WorkerError(Exception):
    """The worker raised: a bad target, a bad schedule or an internal error (message says)."""


@dataclass(frozen=True, slots=True)
class Finding:
    """A violating execution found by a fuzz batch."""

    index: int
    schedule: dict[str, Any]
    spec: RunSpec
    violations: tuple[Violation, ...]
    trace: tuple[int, ...]
    trace_hash: int
    history: dict[str, Any] | None = None
    """Stress mode: the history judged (``harness.data.history_json``), kept in the
    reproducer since a stress replay need not show that interleaving again."""


@dataclass(frozen=True, slots=True)
class Attempt:
    """One run of `Worker.attempts`: its violations, and the outcome unless the worker died."""

    violations: tuple[Violation, ...]
    outcome: Outcome | None


@dataclass(slots=True)
class BatchResult:
    execs: int = 0
    unknown: int = 0
    findings: list[Finding] = field(default_factory=list)
    features: int = 0


def _child(conn: Connection, progress: Any, target_spec: str) -> None:
    """Worker main loop: every request gets one reply, ("ok", payload) or ("error", text)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop
    try:
        target = Target.load(target_spec)
        runner = Runner(target)
    except Exception as exc:  # report, then wait for the parent to close us
        conn.send(("error", f"{type(exc).__name__}: {exc}"))
        return
    conn.send(("ok", None))
    while True:
        try:
            request = conn.recv()
        except EOFError:
            return
        kind = request[0]
        if kind == "stop":
            return
        try:
            if kind == "fuzz":
                reply: Any = _fuzz_batch(runner, target, progress, *request[1:])
            elif kind == "run":
                reply = _run(runner, target, progress, *request[1:])
            else:
                raise WorkerError(f"unknown request {kind!r}")
            conn.send(("ok", reply))
        except Exception as exc:
            conn.send(("error", f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"))


def _fuzz_batch(
    runner: Runner,
    target: Target,
    progress: Any,
    engine: InputSource,
    start: int,
    max_execs: int,
    seconds: float,
) -> BatchResult:
    """Run inputs from ``start`` until ``max_execs``, ``seconds`` or the first finding."""
    result = BatchResult()
    deadline = time.perf_counter() + seconds
    for item in engine.inputs(target.variants, start):
        if item.index >= start + max_execs:
            break
        progress[0] = item.index
        try:
            outcome = execute(runner, target, item.plan, item.spec)
        except ExecutionSetupError as exc:
            raise WorkerError(f"input {item.index}: {exc}") from exc
        result.execs += 1
        if outcome.violations:
            result.findings.append(_finding(item.index, item.schedule, item.spec, outcome))
            break
        elif outcome.verdict.status == "unknown":
            result.unknown += 1
        if time.perf_counter() >= deadline:
            break
    result.features = runner.features()
    return result


def _finding(index: int, schedule: Schedule, spec: RunSpec, outcome: Outcome) -> Finding:
    return Finding(
        index=index,
        schedule=to_json(schedule),
        spec=spec,
        violations=outcome.violations,
        trace=outcome.execution.trace,
        trace_hash=outcome.execution.trace_hash,
        history=history_to_json(outcome.history) if spec.mode == "stress" else None,
    )


def _run(
    runner: Runner,
    target: Target,
    progress: Any,
    schedule_json: dict[str, Any],
    specs: list[RunSpec],
) -> list[Outcome]:
    schedule = from_json(schedule_json)
    plan = compile_schedule(schedule, target.variants)
    outcomes = []
    for n, spec in enumerate(specs):
        progress[0] = n
        outcomes.append(execute(runner, target, plan, spec, events=True))
    return outcomes


class Worker:
    """A restartable worker process driving one target."""

    def __init__(self, target_spec: str, *, hang_timeout: float = 30.0) -> None:
        self.target_spec = target_spec
        self.hang_timeout = hang_timeout
        self._proc: Any = None
        self._conn: Connection | None = None
        self._progress: Any = None
        self.restarts = 0

    def _start(self) -> None:
        parent, child = _CTX.Pipe()
        self._progress = _CTX.Array("q", 2, lock=False)
        self._proc = _CTX.Process(
            target=_child, args=(child, self._progress, self.target_spec), daemon=True
        )
        self._proc.start()
        child.close()
        self._conn = parent
        status, payload = self._wait(120.0, "starting the worker")
        if status != "ok":
            self.close()
            raise WorkerError(payload)

    def _wait(self, timeout: float, what: str) -> tuple[str, Any]:
        assert self._conn is not None and self._proc is not None
        end = time.monotonic() + timeout
        while True:
            if self._conn.poll(min(0.05, max(0.0, end - time.monotonic()))):
                try:
                    reply: tuple[str, Any] = self._conn.recv()
                    return reply
                except EOFError:
                    pass
            if not self._proc.is_alive() or self._conn.closed:
                self._proc.join(1.0)
                code = self._proc.exitcode
                index = int(self._progress[0])
                self._discard()
                detail = (
                    f"worker killed by signal {-code} ({_signame(-code)}) while {what}"
                    if code is not None and code < 0
                    else f"worker exited with code {code} while {what}"
                )
                raise WorkerDied("crash", index, detail)
            if time.monotonic() >= end:
                index = int(self._progress[0])
                self._proc.kill()
                self._proc.join(5.0)
                self._discard()
                raise WorkerDied("hang", index, f"no answer within {timeout:.0f} s while {what}")

    def _discard(self) -> None:
        if self._conn is not None:
            self._conn.close()
        self._conn = None
        self._proc = None
        self.restarts += 1

    def _request(self, request: tuple[Any, ...], timeout: float, what: str) -> Any:
        if self._proc is None:
            self._start()
        assert self._conn is not None
        self._conn.send(request)
        status, payload = self._wait(timeout, what)
        if status != "ok":
            raise WorkerError(payload)
        return payload

    def fuzz_batch(
        self,
        engine: InputSource,
        start: int,
        max_execs: int,
        seconds: float,
    ) -> BatchResult:
        request = ("fuzz", engine, start, max_execs, seconds)
        result: BatchResult = self._request(request, seconds + self.hang_timeout, "fuzzing")
        return result

    def run(self, schedule: Schedule, specs: list[RunSpec]) -> list[Outcome]:
        timeout = self.hang_timeout * max(1, len(specs))
        outcomes: list[Outcome] = self._request(
            ("run", to_json(schedule), specs), timeout, "running"
        )
        return outcomes

    def attempts(self, schedule: Schedule, specs: list[RunSpec]) -> list[Attempt]:
        """Run each spec on ``schedule``; a run that kills or hangs the worker becomes a
        crash or hang attempt, and the next run starts a fresh worker."""
        out: list[Attempt] = []
        for spec in specs:
            try:
                outcome = self.run(schedule, [spec])[0]
                out.append(Attempt(outcome.violations, outcome))
            except WorkerDied as died:
                out.append(Attempt((died.violation(),), None))
        return out

    def close(self) -> None:
        if self._proc is not None and self._conn is not None:
            with contextlib.suppress(OSError):
                self._conn.send(("stop",))
            self._proc.join(2.0)
            if self._proc.is_alive():
                self._proc.kill()
                self._proc.join(2.0)
        if self._conn is not None:
            self._conn.close()
        self._conn = None
        self._proc = None

    def __enter__(self) -> Worker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _signame(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return "unknown signal"


__all__ = ["BatchResult", "Finding", "Worker", "WorkerDied", "WorkerError"]
