"""Preflight: bad input stops a local run in seconds, names the problem, and writes nothing."""

import pytest
import tf_keras
from tfx.orchestration.local.local_dag_runner import LocalDagRunner
from tfx.orchestration.pipeline import Pipeline

from components.example_gen.ingest import DataError
from components.trainer.training_config import TrainingConfig
from pipeline import exit_codes
from pipeline.config import LOCAL_BEAM_ARGS, PipelineConfig
from pipeline.dag import compile_ir, sqlite_metadata
from pipeline.run import execute
from pipeline.run.execute import PreflightError, preflight
from tests.helpers import encode_image

pytestmark = pytest.mark.unit


def _config(tmp_path, data_root, **training) -> PipelineConfig:
    outputs = tmp_path / "outputs"
    return PipelineConfig(
        data_root=str(data_root),
        pipeline_root=str(outputs / "pipeline"),
        serving_dir=str(outputs / "serving"),
        schema_path="schemas/schema.pbtxt",
        metadata_path=str(outputs / "metadata" / "metadata.sqlite"),
        training=TrainingConfig(image_size=32, **training),
    )


def test_good_input_passes_and_prepares_the_output_folders(tmp_path, image_folder):
    config = _config(tmp_path, image_folder)
    preflight(config)
    assert (tmp_path / "outputs" / "pipeline").is_dir()


def test_missing_data_folder_is_named(tmp_path):
    with pytest.raises(DataError, match="no-such-folder"):
        preflight(_config(tmp_path, tmp_path / "no-such-folder"))
    assert not (tmp_path / "outputs").exists()


def test_a_class_without_an_eval_image_is_refused_before_anything_is_written(tmp_path):
    for name, count in (("cat", 4), ("dog", 3)):  # the names put only cat/1.png in eval
        (tmp_path / "data" / name).mkdir(parents=True)
        for i in range(count):
            (tmp_path / "data" / name / f"{i}.png").write_bytes(encode_image(seed=i))

    with pytest.raises(DataError, match=r"'dog': 0 in eval \(3 in train\)"):
        preflight(_config(tmp_path, tmp_path / "data"))
    assert not (tmp_path / "outputs").exists()


def test_missing_weights_file_is_named_before_anything_is_written(tmp_path, image_folder):
    config = _config(tmp_path, image_folder, weights=str(tmp_path / "nope.weights.h5"))
    with pytest.raises(PreflightError, match="nope.weights.h5"):
        preflight(config)
    assert not (tmp_path / "outputs").exists()


def test_weights_of_another_architecture_fail_at_start(tmp_path, image_folder):
    other = tf_keras.applications.MobileNetV2(
        include_top=False, input_shape=(32, 32, 3), alpha=1.0, weights=None
    )
    path = tmp_path / "alpha1.weights.h5"
    other.save_weights(str(path))
    config = _config(tmp_path, image_folder, weights=str(path), backbone_alpha=0.35)

    with pytest.raises(PreflightError, match=r"alpha1\.weights\.h5.*Conv1"):
        preflight(config)
    assert not (tmp_path / "outputs").exists()


def test_a_feature_layer_the_backbone_lacks_is_named_at_start(tmp_path, image_folder):
    config = _config(tmp_path, image_folder, feature_layer="block_99_expand_relu")

    with pytest.raises(PreflightError, match=r"'block_99_expand_relu' is not a layer of"):
        preflight(config)
    assert not (tmp_path / "outputs").exists()


def test_unwritable_output_folder_is_named(tmp_path, image_folder):
    blocker = tmp_path / "outputs"
    blocker.write_text("a file where the outputs folder should be")
    with pytest.raises(PreflightError, match="Cannot write to .*outputs"):
        preflight(_config(tmp_path, image_folder))
    assert blocker.read_text().startswith("a file")


def test_extreme_imbalance_is_warned_at_start_with_the_counts(tmp_path, capsys):
    data = tmp_path / "data"
    for name, numbers in (("common", range(20)), ("rare", (3, 5))):  # rare/3.png is eval's
        (data / name).mkdir(parents=True)
        for i in numbers:
            (data / name / f"{i}.png").write_bytes(encode_image(seed=i))

    preflight(_config(tmp_path, data, weights="none"))

    out = capsys.readouterr().out
    assert "Warning: Imbalanced classes: rare 2 images, against 20 for common" in out
    assert "GATE_METRIC=macro_f1" in out


def test_too_little_free_space_is_named_at_start(tmp_path, image_folder):
    # The real disk's free space, against a requirement no disk meets.
    with pytest.raises(PreflightError, match=r"MB free for the pipeline root .*a run needs about"):
        preflight(_config(tmp_path, image_folder, weights="none"), reserve_bytes=2**60)


def finished(
    status: str = "complete",
    pushed: str | None = None,
    already: int | None = None,
    example_gen: str = "complete",
):
    """A run's summary as run_summary.collect writes it, reduced to what exit_status reads."""
    return {
        "components": {"ImageExampleGen": {"status": example_gen}, "Pusher": {"status": status}},
        "pushed_model_dir": pushed,
        "push": {"already_pushed_as": already},
    }


@pytest.mark.parametrize(
    ("error", "summary", "require_push", "status", "why"),
    [
        (None, finished(pushed="/serving/3"), True, exit_codes.SUCCESS, None),
        (None, finished(), False, exit_codes.SUCCESS, None),  # not blessed: a result, not a fault
        (
            None,
            finished(),
            True,
            exit_codes.NOT_PUSHED,
            "no model was pushed (REQUIRE_PUSH): the candidate was not blessed",
        ),
        (
            None,
            finished(already=2),
            True,
            exit_codes.NOT_PUSHED,
            "no model was pushed (REQUIRE_PUSH): the registry holds this model already, as "
            "version 2",
        ),
        (
            DataError("3 of 10 files could not be decoded:\n  a.png: empty file"),
            finished(example_gen="failed"),
            False,
            exit_codes.DATA_REFUSED,
            "ImageExampleGen refused the data: 3 of 10 files could not be decoded:",
        ),
        (
            RuntimeError("Not published: version 3 is served now"),
            finished(status="failed"),
            True,
            exit_codes.STEP_FAILED,
            "Pusher failed: Not published: version 3 is served now",
        ),
    ],
)
def test_the_exit_status_says_why_a_run_stopped(error, summary, require_push, status, why):
    assert execute.exit_status(error, summary, require_push) == (status, why)


def test_bad_input_is_one_line_on_standard_error(tmp_path, capsys):
    config = _config(tmp_path, tmp_path / "nowhere")

    assert execute.run(config, str(tmp_path / "outputs")) == exit_codes.BAD_INPUT

    printed = capsys.readouterr()
    assert printed.err.startswith("error: ") and len(printed.err.splitlines()) == 1
    assert str(tmp_path / "nowhere") in printed.err


@pytest.mark.component
def test_ingestion_says_how_far_it_got_on_the_console_and_in_the_log(
    tmp_path, image_folder, capsys, monkeypatch
):
    from components.common import progress
    from components.example_gen.component import ImageExampleGen

    (image_folder / "dog" / "empty.png").write_bytes(b"")
    total = sum(1 for path in image_folder.glob("*/*") if path.suffix.lower() != ".txt")
    monkeypatch.setattr(progress, "EVERY_SECONDS", 0)  # a line per image
    log = tmp_path / "run.log"
    pipeline = Pipeline(
        pipeline_name="progress",
        pipeline_root=str(tmp_path / "pipeline"),
        components=[ImageExampleGen(data_root=str(image_folder), max_bad_file_fraction=0.5)],
        metadata_connection_config=sqlite_metadata(str(tmp_path / "metadata.sqlite")),
        beam_pipeline_args=list(LOCAL_BEAM_ARGS),
    )

    with execute.run_logging(str(log), total=1):
        LocalDagRunner().run_with_ir(compile_ir(pipeline))

    shown = [line.strip() for line in capsys.readouterr().out.splitlines()]
    checked = [line for line in shown if line.startswith("ingestion: ")]
    assert checked[0].startswith(f"ingestion: 1 of {total} images checked by this worker, ")
    assert checked[-1] == (
        f"ingestion: {total} of {total} images checked by this worker, 1 unusable"
    )
    assert len(checked) == total
    assert f"ingestion: {total} of {total} images checked" in log.read_text()
