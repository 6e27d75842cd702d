"""The blessing rule as plain data: which metric judges a candidate, its floor, its tolerance.

Kept free of TFMA so the entry point can build and check it before importing the heavy stack;
components/evaluator/evaluation.py turns it into TFMA thresholds.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class GateMetric:
    """A metric the gate can judge by: TFMA's class for it and which way is better."""

    class_name: str
    higher_is_better: bool = True


GATE_METRICS = {
    "accuracy": GateMetric("SparseCategoricalAccuracy"),
    "macro_f1": GateMetric("MacroF1"),
    "macro_auc": GateMetric("OneVsRestAUC"),
    "loss": GateMetric("SparseCategoricalCrossentropy", higher_is_better=False),
}


@dataclass(frozen=True)
class Gate:
    """A candidate is blessed if `metric` is at least `floor` (at most, for loss) and not worse
    than the baseline's by more than `tolerance`, in the metric's own units."""

    metric: str = "accuracy"
    floor: float = 0.5
    tolerance: float = 0.02

    def __post_init__(self) -> None:
        if self.metric not in GATE_METRICS:
            raise ValueError(
                f"gate metric must be one of {', '.join(GATE_METRICS)}, got {self.metric!r}"
            )
        if self.higher_is_better and not 0 <= self.floor <= 1:
            raise ValueError(f"the floor of {self.metric} must be in [0, 1], got {self.floor}")
        if not self.higher_is_better and self.floor < 0:
            raise ValueError(f"the ceiling of {self.metric} must be >= 0, got {self.floor}")
        if self.tolerance < 0:
            raise ValueError(f"the gate's tolerance must be >= 0, got {self.tolerance}")

    @property
    def higher_is_better(self) -> bool:
        return GATE_METRICS[self.metric].higher_is_better

    def describe(self) -> str:
        """The rule in words, for the report."""
        bound, worse = ("at least", "below") if self.higher_is_better else ("at most", "above")
        return (
            f"{self.metric} {bound} {self.floor:g}, and not {worse} the baseline's by more "
            f"than {self.tolerance:g}"
        )
