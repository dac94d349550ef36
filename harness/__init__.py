"""mapfuzz: a race-detection fuzzer for concurrent hash maps.

The package is grouped by stage, in the order data flows through an execution:

* ``data``: the data of one execution: values and keys, schedules and their codecs,
  plans (a schedule compiled for the C runner), histories and their file form.
* ``oracle``: judges a history: ok, violation (with its class) or unknown.
* ``run``: running a target: the C binding, targets and adapters, one judged
  execution, reproducer files, the worker process.
* ``search``: what to run next: schedule generators, the random engine, campaigns,
  the controlled schedule search.
* ``frontends``: atheris and hypothesis driving the same checks.
* ``tools``: tools that act on findings: tmin, cmin, the witness search, explain.
* ``bench``: ``mapfuzz bench``.
* ``cli``: the ``mapfuzz`` command.

A stage imports only the stages listed before it. Beside them, two public names
kept where users import them, ``strategies`` (hypothesis strategies) and
``adapters`` (``python -m harness.adapters``), and the cffi build script ``_build``.
"""

__version__ = "0.1.0"
