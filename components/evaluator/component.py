"""Evaluator: TFX's, with an executor that accepts an empty baseline (see executor.py)."""

from __future__ import annotations

from tfx import components
from tfx.dsl.components.base import executor_spec

from components.evaluator import executor


class Evaluator(components.Evaluator):
    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(executor.Executor)
