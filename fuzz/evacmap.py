"""atheris entry point: evacmap, the correct map or a seeded variant.

    python fuzz/evacmap.py [--variant=NAME] fuzz/corpus/evacmap fuzz/seeds/evacmap \
        -max_total_time=60 -artifact_prefix=fuzz/artifacts/evacmap-

Input: 8 bytes of scheduler seed, then a schedule in mapfuzz's byte form. Options
and behaviour: harness/frontends/atheris_target.py.
"""

import _harness

if __name__ == "__main__":
    _harness.run(__file__, "evacmap")
