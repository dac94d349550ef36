"""Stage 3, running a target: one execution on real threads, judged.

``binding`` (the C core's cffi module), ``target`` (loading a map: built-in, adapter
or .so), ``adapters`` (building the real-map adapters), ``runner`` (a Plan on the C
runner -> records and decision trace), ``execute`` (one judged execution),
``reproducer`` (the file that replays a finding), ``inputs`` (files users hand to
the CLI), ``worker`` (executions in a child process, so a crash is a finding),
``cc`` (building instrumented targets: ``mapfuzz cc``) and ``symbols`` (their
sites' file:line names).
May import ``data`` and ``oracle``.
"""
