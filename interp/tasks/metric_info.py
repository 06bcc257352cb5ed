"""What each probe-task metric means and what a model without the skill scores: the one home of chance levels.

Every task module declares ``METRICS: dict[str, MetricInfo]``; reports and ``interp.tasks.suite.scores_frame``
read descriptions and chance levels from there instead of spelling them out.

>>> from interp.tasks.capitals import METRICS
>>> METRICS["accuracy"].chance          # 1 / the number of capitals to choose from
0.034482758620689655
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MetricInfo:
    """One metric of a task: a one-sentence explanation and its chance level (higher is better when it has one)."""

    description: str
    chance: float | None = None
    """What a model without the skill scores (guessing uniformly among the task's options); None: no such level."""


def uniform_choice(n_options: int) -> float:
    """Accuracy of a uniform guess among ``n_options`` answers: ``uniform_choice(3) == 1 / 3``."""
    if n_options < 1:
        raise ValueError(f"A choice task needs at least one option, got {n_options}.")
    return 1 / n_options
