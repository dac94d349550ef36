"""Stage 6, tools that act on findings and corpora.

``minimize`` (the generic shrinker), ``candidates`` (cases, failure signatures and
how candidates are run), ``tmin`` (shrink a reproducer), ``witness`` (stress finding
-> controlled witness), ``cmin`` (corpus minimisation), ``explain`` (the
interleaving around a violation). May import every stage before it, front ends
included (cmin merges through libFuzzer).
"""
