"""The Evaluator's executor, run for real on a tiny examples artifact and a model that reads its
answers from the image bytes: it completes the config from the class names, blesses by the
floor alone without a baseline and within the tolerance of a served one, writes the report,
and leaves Keras's and tf.Transform's code to AutoGraph unconverted even in a process that
never trained (as on Kubeflow, one pod per component)."""

import os

import numpy as np
import pytest
from tfx.dsl.components.base import base_beam_executor
from tfx.types import artifact_utils, channel_utils, standard_artifacts
from tfx.utils import path_utils

from components import features
from components.common import tracing
from components.evaluator import evaluation, evaluation_report
from components.evaluator.blessing import Gate
from components.evaluator.component import Evaluator
from components.evaluator.executor import BLESSED_PROPERTY, Executor
from components.example_gen.class_names import write_class_names
from components.registry.component import BASELINE_VERSION_PROPERTY
from pipeline.config import LOCAL_BEAM_ARGS
from tests.helpers import predictions, save_answer_reader, write_answer_examples

pytestmark = pytest.mark.unit

CLASSES = ["a", "b", "c"]


def eval_examples(tmp_path, labels: np.ndarray, *answers: np.ndarray):
    """An Examples artifact whose eval split (gzipped, as ExampleGen writes it) holds `labels`
    and, per model, the answers an AnswerReader will give."""
    examples = standard_artifacts.Examples()
    examples.uri = str(tmp_path / "examples")
    examples.split_names = '["eval"]'
    eval_dir = artifact_utils.get_split_uri([examples], "eval")
    os.makedirs(eval_dir)
    path = os.path.join(eval_dir, "data_tfrecord-00000-of-00001.gz")
    write_answer_examples(path, labels, *answers, compression="GZIP")
    write_class_names(examples.uri, CLASSES)
    return examples


@pytest.fixture
def artifacts(tmp_path):
    """Examples (an eval split of 30, gzipped as ExampleGen writes them) and a model getting
    half of them right; plus the two outputs."""
    labels = np.arange(30) % len(CLASSES)
    examples = eval_examples(
        tmp_path, labels, predictions(labels, np.arange(30) % 2 == 0, len(CLASSES))
    )

    model = standard_artifacts.Model()
    model.uri = str(tmp_path / "model")
    save_answer_reader(path_utils.serving_model_dir(model.uri), index=0)

    evaluation_out = standard_artifacts.ModelEvaluation()
    evaluation_out.uri = str(tmp_path / "evaluation")
    blessing = standard_artifacts.ModelBlessing()
    blessing.uri = str(tmp_path / "blessing")
    return examples, model, evaluation_out, blessing


def run_executor(artifacts, gate: Gate, tmp_dir: str) -> None:
    examples, model, evaluation_out, blessing = artifacts
    component = Evaluator(
        examples=channel_utils.as_channel([examples]),
        model=channel_utils.as_channel([model]),
        eval_config=evaluation.eval_config(gate),
        example_splits=[features.EVAL_SPLIT],
    )
    context = base_beam_executor.BaseBeamExecutor.Context(
        beam_pipeline_args=list(LOCAL_BEAM_ARGS), tmp_dir=tmp_dir
    )
    Executor(context).Do(
        {"examples": [examples], "model": [model]},
        {"evaluation": [evaluation_out], "blessing": [blessing]},
        dict(component.exec_properties),
    )


def test_it_judges_the_served_signature_and_leaves_the_libraries_unconverted(
    artifacts, stock_autograph, tmp_path
):
    assert not tracing.libraries_left_unconverted()

    run_executor(artifacts, Gate("accuracy", floor=0.4), str(tmp_path / "tmp"))

    _, _, evaluation_out, blessing = artifacts
    assert blessing.get_int_custom_property(BLESSED_PROPERTY) == 1
    found = evaluation.read_evaluation(evaluation_out.uri, CLASSES)[evaluation.CANDIDATE]
    assert found["overall"]["accuracy"] == pytest.approx(0.5)
    assert found["overall"]["examples"] == 30
    report = os.path.join(
        evaluation_out.uri, evaluation_report.REPORT_DIR, evaluation_report.REPORT_FILE
    )
    with open(report) as f:
        assert "**Decision: blessed.**" in f.read()
    assert tracing.libraries_left_unconverted()


def candidate_and_baseline(tmp_path, candidate_right: int, baseline_right: int = 80):
    """100 eval examples; a candidate and a served baseline right on the given numbers of them."""
    labels = np.arange(100) % len(CLASSES)
    answers = [
        predictions(labels, np.arange(100) < right, len(CLASSES))
        for right in (candidate_right, baseline_right)
    ]
    examples = eval_examples(tmp_path, labels, *answers)
    models = []
    for index, name in enumerate(("model", "baseline")):
        model = standard_artifacts.Model()
        model.uri = str(tmp_path / name)
        save_answer_reader(path_utils.serving_model_dir(model.uri), index=index)
        models.append(model)
    models[1].set_int_custom_property(BASELINE_VERSION_PROPERTY, 1)  # a served version
    return examples, *models


@pytest.mark.parametrize(
    ("candidate_right", "blessed"),
    [(79, 1), (77, 0)],
    ids=["one-point-worse-within-tolerance", "three-points-worse-beyond-it"],
)
def test_a_candidate_just_inside_the_tolerance_is_blessed_and_just_outside_is_not(
    tmp_path, candidate_right, blessed
):
    examples, model, baseline = candidate_and_baseline(tmp_path, candidate_right)
    gate = Gate("accuracy", floor=0.5, tolerance=0.02)
    evaluation_out = standard_artifacts.ModelEvaluation()
    evaluation_out.uri = str(tmp_path / "evaluation")
    blessing = standard_artifacts.ModelBlessing()
    blessing.uri = str(tmp_path / "blessing")
    component = Evaluator(
        examples=channel_utils.as_channel([examples]),
        model=channel_utils.as_channel([model]),
        baseline_model=channel_utils.as_channel([baseline]),
        eval_config=evaluation.eval_config(gate),
        example_splits=[features.EVAL_SPLIT],
    )
    context = base_beam_executor.BaseBeamExecutor.Context(
        beam_pipeline_args=list(LOCAL_BEAM_ARGS), tmp_dir=str(tmp_path / "tmp")
    )

    Executor(context).Do(
        {"examples": [examples], "model": [model], "baseline_model": [baseline]},
        {"evaluation": [evaluation_out], "blessing": [blessing]},
        dict(component.exec_properties),
    )

    found = evaluation.read_evaluation(evaluation_out.uri, CLASSES)
    assert found[evaluation.BASELINE]["overall"]["accuracy"] == pytest.approx(0.80)
    assert found[evaluation.CANDIDATE]["overall"]["accuracy"] == pytest.approx(
        candidate_right / 100
    )
    assert blessing.get_int_custom_property(BLESSED_PROPERTY) == blessed
