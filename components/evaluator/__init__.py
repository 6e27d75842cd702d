"""The Evaluator: the blessing rule (blessing: the Gate, what a candidate must clear), the TFMA
metrics it computes and their results read back (evaluation, tfma_metrics), the executor that
runs TFMA and writes the report (evaluation_report) beside its results."""

EVALUATOR_NODE_ID = "Evaluator"
