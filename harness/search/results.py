"""What a campaign hands back: its distinct findings, for people and for other writers.

A campaign (any engine) returns one :class:`CampaignResult`. Its ``findings`` list
holds one :class:`Report` per *distinct* finding: executions whose first violation
has the same :class:`FindingSignature` (class, key role, witnessing operations) are
one finding, counted in ``hits``, with the reproducer of the lowest input index
that showed it. Writers of machine formats (JSON, JUnit, SARIF, Markdown) read
these two dataclasses and nothing else::

    for f in result.findings:
        f.cls, f.key, f.explanation, f.hits, f.reproducer, f.replay, f.mode, f.target
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from harness.run.trust import replay_command
from harness.run.worker import Finding
from harness.search.generate import GenConfig, key_role


@dataclass(frozen=True, slots=True)
class FindingSignature:
    """What makes two findings the same: the first violation's class, the role of its
    key in the generated schedule (``"contended"``, ``"colliding"``, ``"filler"``, see
    harness.search.generate.key_role; None for whole-map findings such as a crash or a
    wrong len) and its sites (the kinds of the operations that witness it, sorted:
    ``("get",)``, ``("iterate",)``). Every generated input has keys in the same roles,
    so one bug seen on many inputs collapses to a few signatures."""

    cls: str
    role: str | None
    sites: tuple[str, ...]

    @staticmethod
    def of(finding: Finding, gen: GenConfig) -> FindingSignature:
        return FindingSignature(
            finding.violations[0].cls, key_role(gen, finding.role), finding.sites
        )

    def describe(self) -> str:
        """What, besides the class, tells it apart: ``"contended key; seen by get"``."""
        parts = [f"{self.role} key"] if self.role else []
        parts += [f"seen by {'/'.join(self.sites)}"] if self.sites else []
        return "; ".join(parts)


@dataclass(slots=True)
class Report:
    """One distinct finding of a campaign.

    ``cls``: violation class (harness.oracle.CLASSES); ``key``: the key's display form
    (None for whole-map findings); ``explanation``: one sentence naming the witnessing
    operations; ``hits``: how many executions of the campaign showed this signature;
    ``reproducer``: the file written for it (the lowest input index that showed it);
    ``replay``: the command that replays it; ``mode``/``target``: how it was run;
    ``first_found_s``/``execs_to_find``: when it was first seen (executions in input
    order up to and including the input, ``index + 1`` for the random engine);
    ``index``: the campaign input (None for engines without input indices);
    ``signature``: what the deduplication compared (None where not computed);
    ``write_problem``: why the reproducer is in a fallback directory (or nowhere: then
    ``reproducer`` is None and ``reproducer_text`` holds its JSON, printed instead).
    """

    cls: str
    key: str | None
    first_found_s: float
    execs_to_find: int
    reproducer: Path | None
    explanation: str
    hits: int = 1
    mode: str = "controlled"
    target: str = ""
    index: int | None = None
    signature: FindingSignature | None = None
    write_problem: str | None = None
    reproducer_text: str = ""
    target_spec: str | None = None
    """The target as given (a name or a library path): ``replay`` confirms a library
    outside the trusted roots with --target."""

    @property
    def replay(self) -> str:
        if self.reproducer is None:
            return "save the reproducer printed with the finding as FILE.json, then: " \
                "mapfuzz repro FILE.json"
        return replay_command(self.reproducer, self.target_spec)


@dataclass(slots=True)
class CampaignResult:
    """A campaign's totals and its distinct findings (in the order they were found,
    by input index for the random engine). ``jobs``: worker processes that ran it;
    ``cluster``: the Dask scheduler address, or None."""

    target: str
    variant: str | None
    engine: str
    mode: str
    seed: int
    elapsed_s: float = 0.0
    execs: int = 0
    unknown: int = 0
    features: int = 0
    canary: dict[str, object] | None = None
    findings: list[Report] = field(default_factory=list)
    jobs: int = 1
    cluster: str | None = None

    @property
    def hits(self) -> int:
        """Executions that showed a finding (every hit of every distinct finding)."""
        return sum(f.hits for f in self.findings)
