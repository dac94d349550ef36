"""Executions in a child process, so a target that crashes or hangs is a finding.

The parent (the CLI) talks to one worker process over a pipe. Before each
execution the worker stores the input's index in shared memory; when the worker
dies by a signal, or stops answering past its deadline, the parent knows exactly
which input killed it, kills and restarts the worker, and reports ``crash`` or
``hang`` for that input. A controlled run also mirrors its decision trace into
shared memory (the C host writes each decision there as it takes it), so a run
that kills the worker still leaves the decisions up to the crash: the crash
replays exactly (``WorkerDied.trace``). The fuzz loop itself (generate, run, judge) runs inside
the worker in batches bounded in time, so the pipe carries only findings and
counts.

Call order: ``Worker(target_spec)`` -> ``fuzz_batch(...)`` / ``run(...)`` any number
of times -> ``close()``. After a ``WorkerDied`` the same Worker restarts itself on
the next call.

The worker's stderr goes to a file the parent owns: the parent copies what appears
there to its own stderr after every reply (nothing is hidden), and when the worker
dies it reads why (Go's ``fatal error: concurrent map writes`` and the goroutine's
frame, a glibc abort message, ...: harness.run.crash_report) into the crash
finding's explanation.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import signal
import sys
import tempfile
import time
import traceback
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any, Protocol

from harness.data.history_json import history_to_json
from harness.data.plan import Plan, compile_schedule
from harness.data.schedule import Schedule, from_json, to_json
from harness.data.values import format_key
from harness.oracle import Violation
from harness.run.crash_report import summarize
from harness.run.execute import ExecutionSetupError, Outcome, RunSpec, execute
from harness.run.runner import Runner, mirrored_trace
from harness.run.target import Target

_CTX = mp.get_context("spawn")
TRACE_MIRROR_WORDS = 1 << 18
"""Shared uint32 words for the crash-safe trace (word 0: words written)."""


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

    def next_index(self, index: int, outcome: Outcome, plan: Plan) -> int:
        """The index to run after ``index``: ``index + 1``, or further on to skip
        inputs the outcome makes uninteresting (every index stays pure)."""
        ...


class WorkerDied(Exception):
    """The worker process died (signal) or hung while running input ``index``."""

    def __init__(self, kind: str, index: int, detail: str, trace: tuple[int, ...] = ()) -> None:
        super().__init__(f"{kind} at input {index}: {detail}")
        self.kind = kind
        self.index = index
        self.detail = detail
        self.trace = trace
        """Controlled mode: the decisions the run took up to its death (replayable)."""

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
    role: int | None = None
    """Index in the schedule's keys of the first violation's key (None: no key)."""
    sites: tuple[str, ...] = ()
    """Kinds of the operations witnessing the first violation, sorted, without repeats."""


def key_role(key: str | None, schedule: Schedule) -> int | None:
    """The index in ``schedule.keys`` of a violation's key (its display form), or None."""
    if key is None:
        return None
    for i, k in enumerate(schedule.keys):
        if format_key(k) == key:
            return i
    return None


@dataclass(frozen=True, slots=True)
class Attempt:
    """One run of `Worker.attempts`: its violations, and the outcome unless the worker died."""

    violations: tuple[Violation, ...]
    outcome: Outcome | None
    trace: tuple[int, ...] = ()
    """A run that killed the worker in controlled mode: its decisions up to the death."""


@dataclass(slots=True)
class BatchResult:
    execs: int = 0
    unknown: int = 0
    findings: list[Finding] = field(default_factory=list)
    features: int = 0
    next_index: int = 0
    """The first input index the batch did not consider (run or skipped)."""


def _child(
    conn: Connection, progress: Any, mirror: Any, target_spec: str, stderr_path: str
) -> None:
    """Worker main loop: every request gets one reply, ("ok", payload) or ("error", text)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop
    fd = os.open(stderr_path, os.O_WRONLY | os.O_APPEND)
    os.dup2(fd, 2)  # the target's own messages too (Go's runtime writes to fd 2)
    os.close(fd)
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
                reply: Any = _fuzz_batch(runner, target, (progress, mirror), *request[1:])
            elif kind == "run":
                reply = _run(runner, target, (progress, mirror), *request[1:])
            else:
                raise WorkerError(f"unknown request {kind!r}")
            conn.send(("ok", reply))
        except Exception as exc:
            conn.send(("error", f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"))


def _mirror_for(spec: RunSpec, mirror: Any) -> Any:
    mirror[0] = 0
    return memoryview(mirror).cast("B").cast("I") if spec.mode == "controlled" else None


def _fuzz_batch(
    runner: Runner,
    target: Target,
    shared: tuple[Any, Any],
    engine: InputSource,
    start: int,
    max_execs: int,
    seconds: float,
) -> BatchResult:
    """Run inputs from ``start`` until the next one is ``start + max_execs`` or beyond
    (the engine's feedback may skip inputs, so this bounds the input range, not only
    the executions), ``seconds`` run out, or the first finding."""
    progress, mirror = shared
    result = BatchResult(next_index=start)
    deadline = time.perf_counter() + seconds
    index = start
    items = engine.inputs(target.variants, index)
    while result.next_index < start + max_execs:
        item = next(items)
        progress[0] = item.index
        try:
            outcome = execute(runner, target, item.plan, item.spec,
                              trace_mirror=_mirror_for(item.spec, mirror))
        except ExecutionSetupError as exc:
            raise WorkerError(f"input {item.index}: {exc}") from exc
        result.execs += 1
        index = engine.next_index(item.index, outcome, item.plan)
        result.next_index = index
        if outcome.violations:
            result.findings.append(_finding(item.index, item.schedule, item.spec, outcome))
            break
        elif outcome.verdict.status == "unknown":
            result.unknown += 1
        if time.perf_counter() >= deadline:
            break
        if index != item.index + 1:
            items = engine.inputs(target.variants, index)
    result.features = runner.features()
    return result


def _finding(index: int, schedule: Schedule, spec: RunSpec, outcome: Outcome) -> Finding:
    first = outcome.violations[0]
    ops = outcome.history.ops
    return Finding(
        index=index,
        schedule=to_json(schedule),
        spec=spec,
        violations=outcome.violations,
        trace=outcome.execution.trace,
        trace_hash=outcome.execution.trace_hash,
        history=history_to_json(outcome.history) if spec.mode == "stress" else None,
        role=key_role(first.key, schedule),
        sites=tuple(sorted({ops[i].kind for i in first.ops if 0 <= i < len(ops)})),
    )


def _run(
    runner: Runner,
    target: Target,
    shared: tuple[Any, Any],
    schedule_json: dict[str, Any],
    specs: list[RunSpec],
) -> list[Outcome]:
    progress, mirror = shared
    schedule = from_json(schedule_json)
    plan = compile_schedule(schedule, target.variants)
    outcomes = []
    for n, spec in enumerate(specs):
        progress[0] = n
        outcomes.append(execute(runner, target, plan, spec, events=True,
                                trace_mirror=_mirror_for(spec, mirror)))
    return outcomes


class Worker:
    """A restartable worker process driving one target."""

    def __init__(self, target_spec: str, *, hang_timeout: float = 30.0) -> None:
        self.target_spec = target_spec
        self.hang_timeout = hang_timeout
        self._proc: Any = None
        self._conn: Connection | None = None
        self._progress: Any = None
        self._stderr: Any = None
        self._mirror: Any = None
        self.restarts = 0

    def _start(self) -> None:
        parent, child = _CTX.Pipe()
        self._progress = _CTX.Array("q", 2, lock=False)
        fd, path = tempfile.mkstemp(prefix="mapfuzz-worker-", suffix=".stderr")
        self._stderr = os.fdopen(fd, "rb")
        self._mirror = _CTX.Array("I", TRACE_MIRROR_WORDS, lock=False)
        self._proc = _CTX.Process(
            target=_child,
            args=(child, self._progress, self._mirror, self.target_spec, path),
            daemon=True,
        )
        try:
            self._proc.start()
            child.close()
            self._conn = parent
            status, payload = self._wait(120.0, "starting the worker")
        finally:
            os.unlink(path)  # the child has it open from here on (or never will)
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
                    self._relay_stderr()
                    return reply
                except EOFError:
                    pass
            if not self._proc.is_alive() or self._conn.closed:
                self._proc.join(1.0)
                code = self._proc.exitcode
                index = int(self._progress[0])
                said = summarize(self._relay_stderr())
                # the decisions the dead run took (controlled mode; empty otherwise)
                trace = mirrored_trace(self._mirror)
                self._discard()
                detail = (
                    f"worker killed by signal {-code} ({_signame(-code)}) while {what}"
                    if code is not None and code < 0
                    else f"worker exited with code {code} while {what}"
                )
                raise WorkerDied("crash", index, detail + (f"; {said}" if said else ""), trace)
            if time.monotonic() >= end:
                index = int(self._progress[0])
                self._proc.kill()
                self._proc.join(5.0)
                self._discard()
                raise WorkerDied("hang", index, f"no answer within {timeout:.0f} s while {what}")

    def _relay_stderr(self) -> str:
        """Copy what the worker wrote to stderr since the last call to our stderr, and
        return it."""
        if self._stderr is None:
            return ""
        data: bytes = self._stderr.read()
        if not data:
            return ""
        text = data.decode(errors="replace")
        with contextlib.suppress(OSError, ValueError):
            sys.stderr.write(text)
            sys.stderr.flush()
        return text

    def _close_stderr(self) -> None:
        if self._stderr is not None:
            self._relay_stderr()
            self._stderr.close()
        self._stderr = None

    def _discard(self) -> None:
        if self._conn is not None:
            self._conn.close()
        self._close_stderr()
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
                out.append(Attempt((died.violation(),), None, died.trace))
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
        self._close_stderr()
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


__all__ = ["BatchResult", "Finding", "Worker", "WorkerDied", "WorkerError", "key_role"]
