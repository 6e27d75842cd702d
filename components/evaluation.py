"""The blessing policy: which metrics TFMA computes and what a candidate must clear."""

from __future__ import annotations

import tensorflow_model_analysis as tfma

from components import features

ACCURACY_METRIC = "sparse_categorical_accuracy"
LOSS_METRIC = "sparse_categorical_crossentropy"


def eval_config(accuracy_floor: float, regression_tolerance: float) -> tfma.EvalConfig:
    """Blessed only if accuracy >= floor and not below the baseline's by more than tolerance.

    With no baseline (first run) TFMA checks the floor alone.
    """
    accuracy_threshold = tfma.MetricThreshold(
        value_threshold=tfma.GenericValueThreshold(lower_bound={"value": accuracy_floor}),
        change_threshold=tfma.GenericChangeThreshold(
            direction=tfma.MetricDirection.HIGHER_IS_BETTER,
            absolute={"value": -regression_tolerance},
        ),
    )
    return tfma.EvalConfig(
        model_specs=[
            tfma.ModelSpec(
                # Said, not inferred: left unset, TFMA loads every model once with Keras just to
                # find its type, then again to evaluate (10-15 s a load here). As a generic
                # SavedModel it is loaded once, by tf.saved_model.load, and called through the
                # signature below.
                model_type=tfma.TF_GENERIC,
                signature_name=features.EXAMPLES_SIGNATURE,
                label_key=features.LABEL_KEY,
                prediction_key=features.PROBABILITIES_KEY,
            )
        ],
        slicing_specs=[tfma.SlicingSpec()],
        metrics_specs=[
            tfma.MetricsSpec(
                metrics=[
                    tfma.MetricConfig(class_name="ExampleCount"),
                    tfma.MetricConfig(
                        class_name="SparseCategoricalAccuracy", threshold=accuracy_threshold
                    ),
                    tfma.MetricConfig(class_name="SparseCategoricalCrossentropy"),
                ]
            )
        ],
    )
