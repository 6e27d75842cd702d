"""The blessing policy, run through TFMA for real on tiny data, and the arithmetic that turns its
confusion matrix into per-class precision, recall and F1.

Each example's "image" is text holding the candidate's and the baseline's class probabilities,
and two tiny SavedModels with the pipeline's serving signature read their own back: the
pipeline's own eval config (model spec included) judges them on examples decoded with the
pipeline's schema, as TFX's Evaluator would, with nothing trained. So these tests also check
that TFMA hands the signature each example's own image bytes.
"""

import json
import pickle

import numpy as np
import pytest
import tensorflow_model_analysis as tfma
from tensorflow_metadata.proto.v0 import schema_pb2
from tfx.utils import io_utils

from components import features
from components.evaluator import evaluation, tfma_metrics
from components.evaluator.blessing import GATE_METRICS, Gate
from pipeline.config import CURATED_SCHEMA
from tests.helpers import predictions, save_answer_reader, write_answer_examples

pytestmark = pytest.mark.unit

CLASSES = ["a", "b", "c"]


def test_per_class_scores_from_a_confusion_matrix():
    # rows: actual a, b, c; columns: predicted a, b, c
    counts = [[3, 1, 0, 0], [0, 2, 2, 0], [0, 0, 0, 0], [0, 0, 0, 0]]

    a, b, c, d = evaluation.per_class_from_matrix(counts)

    assert a == {"precision": 1.0, "recall": 0.75, "f1": pytest.approx(6 / 7), "support": 4}
    assert b["precision"] == pytest.approx(2 / 3)
    assert b["recall"] == 0.5
    assert b["f1"] == pytest.approx(2 * (2 / 3) * 0.5 / (2 / 3 + 0.5))
    # Predicted twice, never present: precision 0, no recall (no examples), F1 0.
    assert c == {"precision": 0.0, "recall": None, "f1": 0.0, "support": 0}
    # Neither present nor predicted: nothing to score.
    assert d == {"precision": None, "recall": None, "f1": None, "support": 0}


@pytest.mark.parametrize("gate", [Gate(), Gate("loss", 1.5, 0.1), Gate("macro_auc", 0.7, 0.01)])
def test_the_gate_survives_the_trip_through_the_eval_config(gate):
    config = evaluation.for_classes(evaluation.eval_config(gate), len(CLASSES))
    assert evaluation.gate_of(config) == gate
    gated = [m for spec in config.metrics_specs for m in spec.metrics if m.per_slice_thresholds]
    assert [m.class_name for m in gated] == [GATE_METRICS[gate.metric].class_name]
    # On the overall slice only, not on each class's.
    (rule,) = gated[0].per_slice_thresholds
    assert list(rule.slicing_specs) == [tfma.SlicingSpec()]


def test_the_config_judges_the_whole_split_and_tells_the_aucs_the_classes_once_known():
    config = evaluation.for_classes(evaluation.eval_config(Gate()), num_classes=3)

    assert list(config.slicing_specs) == [tfma.SlicingSpec()]
    assert json.loads(auc_metric(config).config) == {"num_classes": 3}
    assert not auc_metric(evaluation.eval_config(Gate())).config  # compiled before ExampleGen


def auc_metric(config: tfma.EvalConfig) -> tfma.MetricConfig:
    (auc,) = [m for s in config.metrics_specs for m in s.metrics if m.class_name == "OneVsRestAUC"]
    return auc


def test_one_vs_rest_aucs_count_ties_half_and_give_an_absent_class_0():
    labels = np.array([0, 0, 1, 1])
    scores = np.array([[0.9, 0.1, 0], [0.5, 0.5, 0], [0.5, 0.5, 0], [0.2, 0.8, 0]])

    class_0, class_1, absent = tfma_metrics.one_vs_rest_aucs(labels, scores, num_classes=3)

    # Class 0's pairs (positive, negative): 0.9 beats 0.5 and 0.2; 0.5 ties 0.5, beats 0.2.
    assert class_0 == pytest.approx(3.5 / 4)
    assert class_1 == pytest.approx(3.5 / 4)
    assert absent == 0.0


def test_one_vs_rest_auc_without_the_class_count_is_refused_by_name():
    with pytest.raises(ValueError, match="OneVsRestAUC needs num_classes.*for_classes"):
        tfma_metrics.OneVsRestAUC().computations()


def test_the_auc_combiner_ranks_the_same_scores_compacted_pickled_and_merged():
    """As Beam may run it: bundles compacted and pickled, one filled further after compacting,
    one never compacted, one empty, then merged: the AUCs of all the scores together."""
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, size=60)
    scores = rng.random((60, 3)).astype(np.float32)
    config = tfma.EvalConfig(model_specs=[tfma.ModelSpec()])
    (computation,) = tfma_metrics.OneVsRestAUC(num_classes=3).computations(eval_config=config)
    combiner = computation.combiner

    def add(accumulator, rows: slice):
        for label, row in zip(labels[rows], scores[rows], strict=True):
            inputs = {"labels": np.array([label]), "predictions": row}
            inputs["example_weights"] = np.array([1.0])
            accumulator = combiner.add_input(accumulator, tfma.metrics.StandardMetricInputs(inputs))
        return accumulator

    compacted = combiner.compact(add(combiner.create_accumulator(), slice(0, 20)))
    assert len(compacted.scores) == 1  # one array to pickle, not one per example
    refilled = add(pickle.loads(pickle.dumps(compacted)), slice(20, 30))
    uncompacted = add(combiner.create_accumulator(), slice(30, 60))
    bundles = [refilled, combiner.create_accumulator(), uncompacted]

    output = combiner.extract_output(combiner.merge_accumulators(bundles))

    expected = tfma_metrics.one_vs_rest_aucs(labels, scores, num_classes=3)
    by_class = {key.sub_key.class_id: value for key, value in output.items() if key.sub_key}
    assert [by_class[k] for k in range(3)] == pytest.approx(expected)
    assert min(expected) > 0.0 and max(expected) < 1.0  # random scores: no degenerate AUC


def pipeline_schema(*names: str) -> schema_pb2.Schema:
    """The curated schema's features `names`: the shapes TFMA decodes the examples into."""
    schema = io_utils.SchemaReader().read(str(CURATED_SCHEMA))
    kept = [feature for feature in schema.feature if feature.name in names]
    del schema.feature[:]
    schema.feature.extend(kept)
    return schema


@pytest.fixture(scope="module")
def examples(tmp_path_factory):
    """30 examples; the baseline gets 27 right, the candidate 15 (so every metric is worse)."""
    labels = np.arange(30) % 3
    baseline = predictions(labels, np.arange(30) >= 3, len(CLASSES))
    candidate = predictions(labels, np.arange(30) % 2 == 0, len(CLASSES))
    path = str(tmp_path_factory.mktemp("tfma") / "examples.tfrecord")
    write_answer_examples(path, labels, candidate, baseline)
    return {"path": path, "labels": labels, "candidate": candidate}


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("models")
    paths = {}
    for index, name in enumerate((evaluation.CANDIDATE, evaluation.BASELINE)):
        paths[name] = save_answer_reader(str(root / name), index)
    return paths


def evaluate(
    examples: dict, models: dict, gate: Gate, output: str, with_baseline: bool = True
) -> str:
    """TFMA as TFX's Evaluator runs it (TFX names the two models candidate and baseline)."""
    config = evaluation.for_classes(evaluation.eval_config(gate), len(CLASSES))
    config = tfma.utils.update_eval_config_with_defaults(
        config, has_baseline=with_baseline, rubber_stamp=True
    )
    names = [spec.name for spec in config.model_specs]
    shared = [
        tfma.default_eval_shared_model(
            models[name or evaluation.CANDIDATE],
            model_name=name,
            eval_config=config,
            rubber_stamp=not with_baseline,
        )
        for name in names
    ]
    tfma.run_model_analysis(
        eval_shared_model=shared if with_baseline else shared[0],
        eval_config=config,
        data_location=examples["path"],
        schema=pipeline_schema(features.IMAGE_KEY, features.LABEL_KEY),
        output_path=output,
    )
    return output


@pytest.mark.parametrize("metric", list(GATE_METRICS))
def test_a_worse_candidate_is_refused_on_every_gate_metric(examples, models, metric, tmp_path):
    floor = 10.0 if metric == "loss" else 0.0  # the floor passes: the baseline decides
    output = evaluate(examples, models, Gate(metric, floor, tolerance=0.02), str(tmp_path))

    assert not tfma.load_validation_result(output).validation_ok
    (failure,) = evaluation.read_validation_failures(output)
    assert failure.startswith(f"{metric} change vs baseline")
    assert "worse than the baseline by more than the tolerance 0.02" in failure


def test_the_floor_alone_decides_without_a_baseline(examples, models, tmp_path):
    passes = evaluate(
        examples, models, Gate("macro_f1", 0.4), str(tmp_path / "a"), with_baseline=False
    )
    assert tfma.load_validation_result(passes).validation_ok

    fails = evaluate(
        examples, models, Gate("accuracy", 0.6), str(tmp_path / "b"), with_baseline=False
    )
    assert evaluation.read_validation_failures(fails) == ["accuracy 0.5000: below the floor 0.6"]


def test_macro_f1_and_macro_auc_are_the_textbook_ones(examples, models, tmp_path):
    output = evaluate(examples, models, Gate(), str(tmp_path))
    found = evaluation.read_evaluation(output, CLASSES)[evaluation.CANDIDATE]

    labels, probabilities = examples["labels"], examples["candidate"]
    predicted = probabilities.argmax(axis=1)
    f1s, aucs = [], []
    for k in range(len(CLASSES)):
        true_positives = np.sum((predicted == k) & (labels == k))
        f1s.append(2 * true_positives / (np.sum(predicted == k) + np.sum(labels == k)))
        positives, negatives = probabilities[labels == k, k], probabilities[labels != k, k]
        pairs = positives[:, None] - negatives[None, :]
        aucs.append(np.mean((pairs > 0) + 0.5 * (pairs == 0)))
    assert found["overall"]["accuracy"] == pytest.approx(0.5)
    assert found["overall"]["macro_f1"] == pytest.approx(np.mean(f1s))
    assert found["overall"]["macro_auc"] == pytest.approx(np.mean(aucs))
    for name, f1, auc in zip(CLASSES, f1s, aucs, strict=True):
        assert found["per_class"][name]["f1"] == pytest.approx(f1)
        assert found["per_class"][name]["auc"] == pytest.approx(auc)
    matrix = np.asarray(found["confusion_matrix"])
    assert matrix.sum() == 30 and np.trace(matrix) == 15
