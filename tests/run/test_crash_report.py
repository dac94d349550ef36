"""harness.run.crash_report: the clause a crash finding takes from the dead worker's
stderr (Go's fatal error and the goroutine's first frame outside the runtime)."""

from __future__ import annotations

from harness.run.crash_report import MAX_CLAUSE, summarize

GO_DUMP = """\
fatal error: concurrent map read and map write

goroutine 17 [running, locked to thread]:
main.(*gomap).load(...)
\tmapfuzz/goadapters/gomap.go:81
main.(*gomap).op(0xc0000a3c50, 0xc00004cdf8?, {0x7fe08efd5740, 0xc000019970})
\tmapfuzz/goadapters/gomap.go:109 +0x139
main.mfgoOp(0x5?, 0x1, 0x0)
\tmapfuzz/goadapters/abi.go:98 +0x245

goroutine 34 [runnable, locked to thread]:
runtime.goexit()
\t/usr/lib/go-1.19/src/runtime/asm_amd64.s:1594 +0x1
"""

GO_DUMP_WITH_RUNTIME_FRAMES = """\
fatal error: concurrent map writes

goroutine 18 [running, locked to thread]:
runtime.throw({0x7f2c7f5d1c3e?, 0x0?})
\t/usr/lib/go-1.19/src/runtime/panic.go:1047 +0x5d fp=0xc000051d10 sp=0xc000051ce0 pc=0x1
runtime.mapassign(0x7f2c7f63e2a0, 0xc000090000, 0xc000051e08)
\t/usr/lib/go-1.19/src/runtime/map.go:595 +0x4d fp=0xc000051d90 sp=0xc000051d10 pc=0x2
main.(*gomap).store(...)
\tmapfuzz/goadapters/gomap.go:92
"""


def test_go_fatal_error_and_first_frame() -> None:
    assert summarize(GO_DUMP) == (
        "Go: fatal error: concurrent map read and map write at main.(*gomap).load "
        "(mapfuzz/goadapters/gomap.go:81)")


def test_runtime_frames_are_skipped() -> None:
    assert summarize(GO_DUMP_WITH_RUNTIME_FRAMES) == (
        "Go: fatal error: concurrent map writes at main.(*gomap).store "
        "(mapfuzz/goadapters/gomap.go:92)")


def test_go_panic_without_frames_keeps_the_message() -> None:
    assert summarize("panic: boom\n\ngoroutine 1 [running]:\n") == "Go: panic: boom"


def test_other_text_gives_its_last_line_bounded() -> None:
    assert summarize("starting\nfree(): invalid pointer\n\n") == "stderr: free(): invalid pointer"
    long = summarize("x" * 1000)
    assert long is not None and len(long) == len("stderr: ") + MAX_CLAUSE + 3


def test_nothing_said_is_none() -> None:
    assert summarize("") is None and summarize("\n  \n") is None
