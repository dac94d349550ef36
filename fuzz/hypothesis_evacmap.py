"""atheris over the hypothesis property: libFuzzer's bytes drive hypothesis' choices.

    python fuzz/hypothesis_evacmap.py [--variant=NAME] fuzz/corpus/hypothesis \
        -max_total_time=60

The same property as `nox -s fuzz_hypothesis` (harness.frontends.properties:
"evacmap yields no finding", schedule and scheduler seed drawn by hypothesis),
run through ``prop.test.hypothesis.fuzz_one_input``. A failure raises, so libFuzzer
writes the crash input; rerun this script on it to replay.
"""

import sys

import _harness

if __name__ == "__main__":
    _harness.run_property(__file__, sys.argv)
