"""Stage 7, ``mapfuzz bench``: measured figures for BENCHMARKS.md.

``suite`` (detection of every seeded bug, throughput, maps side by side, oracle
speed, the Markdown), ``tools`` (how far tmin shrinks, how often a stress finding
gets a controlled witness), ``designs`` (evacmap, syncmap, rwmap and the Go pair
side by side on three workloads). May import every stage before it.
"""
