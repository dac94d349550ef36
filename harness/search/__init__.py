"""Stage 4, search: which executions to run, and the campaign that runs them.

``generate`` (random schedules, the standard schedule), ``collide`` (keys whose
hashes collide), ``engine`` (the random engine: input i is a pure function of
(seed, i)), ``campaign`` (canary, then the campaign; findings deduplicated and written), ``slices``
(the index space cut into slices, released in input order), ``jobs`` (--jobs: worker
processes here), ``cluster`` (--cluster: slices as Dask tasks), ``results`` (what a
campaign returns: distinct findings for people and machine-format writers),
``strategies`` (hypothesis strategies, re-exported as the public
harness.strategies), ``schedule_search`` (the fixed order of controlled schedules tried for one
schedule). May import ``data``, ``oracle`` and ``run``.
"""
