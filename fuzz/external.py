"""atheris entry point: an external map through the adapter ABI (a shared library
exporting ``mf_target_v1``).

    python fuzz/external.py --target=/abs/path/map.so fuzz/corpus/mymap \
        -max_total_time=60 -artifact_prefix=fuzz/artifacts/mymap-

Ops the target does not offer (put_if_absent, concurrent iterate) are replaced.
"""

import _harness

if __name__ == "__main__":
    _harness.run(__file__, "external")
