"""Stage 1, the data: what one execution runs and what it recorded.

``values`` (self-checking mixed-type values, typed keys), ``schedule`` (the schedule
model and its JSON and byte codecs), ``fuzz_input`` (raw fuzz inputs), ``plan`` (a
schedule compiled for the C runner, and records -> history), ``history`` (the form
the oracle reads), ``history_file`` (JSON-lines histories, line by line),
``history_columns`` (the same files read straight into columns), ``synth`` (synthetic
linearizable histories). Imports nothing of harness outside this package.
"""
