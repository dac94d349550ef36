"""`mapfuzz fuzz --engine hypothesis`: the no-finding property, time-boxed.

Hypothesis has no time budget of its own, so the campaign runs the property in
rounds of ``ROUND_EXAMPLES`` examples, each round with its own hypothesis seed
(derived from the campaign seed and the round number: the same campaign seed
replays the same rounds), until the budget is spent or a round fails. A failing
round has already shrunk its example; the shrunk example is rerun once to record
its decision trace, and saved as a reproducer.

Executions counted are every call of the property (generation and shrinking).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from hypothesis import Phase, settings
from hypothesis import seed as hypothesis_seed

from harness.frontends.properties import CI_SETTINGS, FindingError, NoFindingProperty
from harness.run.target import Target
from harness.search.campaign import CampaignConfig, run_canary
from harness.search.engine import mix64
from harness.search.results import CampaignResult, Report

ROUND_EXAMPLES = 100

Progress = Callable[[CampaignResult, Report | None], None]


def run_hypothesis_campaign(
    cfg: CampaignConfig, progress: Progress | None = None, *, round_examples: int = ROUND_EXAMPLES
) -> CampaignResult:
    target = Target.load(cfg.target)
    target.variant_index(cfg.variant)
    result = CampaignResult(
        target=target.name, variant=cfg.variant, engine="hypothesis", mode="controlled",
        seed=cfg.seed,
    )
    if cfg.canary:
        result.canary = run_canary(cfg.seed)
    start = time.perf_counter()
    limit = cfg.max_execs if cfg.max_execs is not None else 1 << 62
    rnd = 0
    while result.execs < limit and time.perf_counter() - start < cfg.seconds:
        examples = max(1, min(round_examples, limit - result.execs))
        prop = NoFindingProperty(
            target_spec=cfg.target,
            variant=cfg.variant,
            max_examples=examples,
            pct_depth=cfg.pct_depth,
            settings=settings(CI_SETTINGS, phases=[Phase.generate, Phase.target, Phase.shrink]),
        )
        test = hypothesis_seed(mix64(cfg.seed, rnd))(prop.test)
        rnd += 1
        failure: FindingError | None = None
        try:
            test()
        except FindingError:
            failure = prop.last_failure
        first = prop.first_failure_call
        found_at = result.execs + (first if first is not None else prop.calls)
        result.execs += prop.calls
        result.elapsed_s = time.perf_counter() - start
        if failure is not None:
            at = prop.first_failure_at
            first_s = at - start if at is not None else result.elapsed_s
            found = {
                "engine": "hypothesis",
                "campaign_seed": cfg.seed,
                "round": rnd - 1,
                "execs": found_at,
                "shrunk": {"threads": len(failure.schedule.threads),
                           "ops": failure.schedule.nops,
                           "prefill": len(failure.schedule.prefill)},
            }
            saved = failure.save(cfg.artifacts, found)
            v = failure.violations[0]
            report = Report(
                cls=v.cls, key=v.key, first_found_s=first_s, execs_to_find=found_at,
                reproducer=saved.path, explanation=v.explanation, write_problem=saved.problem,
                reproducer_text=saved.text if saved.path is None else "",
            )
            result.findings.append(report)
            if progress:
                progress(result, report)
            break
        if progress:
            progress(result, None)
    result.elapsed_s = time.perf_counter() - start
    return result
