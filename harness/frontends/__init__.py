"""Stage 5, front ends: fuzz engines beside the built-in random engine.

* ``properties``: the check written once (run a schedule in controlled mode with a
  given scheduler seed, judge it, raise ``FindingError`` on a finding), and the
  hypothesis property built on it; the same property serves atheris through
  ``.hypothesis.fuzz_one_input``.
* ``atheris_target``: the libFuzzer/atheris harness (byte input -> seed + schedule,
  interleaving counters registered as libFuzzer coverage, structure-aware mutator).
  The scripts in ``fuzz/`` and ``mapfuzz fuzz --engine atheris`` run it.
* ``atheris_driver``: runs that harness as a subprocess (libFuzzer owns its stderr)
  and turns libFuzzer's status lines into the CLI's progress and JSON.
* ``hypothesis_engine``: a time-boxed campaign of the hypothesis property.

May import ``data``, ``oracle``, ``run`` and ``search``.
"""
