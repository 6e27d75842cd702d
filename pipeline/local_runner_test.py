"""The local runner's settings: flags, environment fallbacks, and clear errors."""

import gc
import os

import pytest

from components.example_gen import ingest
from components.transform.augmentation_spec import AugmentationSpec
from pipeline import local_runner
from pipeline.config import weights_filename

pytestmark = pytest.mark.unit


@pytest.fixture(autouse=True)
def nothing_frozen():
    """main() freezes what is alive once it has imported the stack, as a process should; in
    this process that is the test session's objects too, which must stay collectable."""
    yield
    gc.unfreeze()


def config_for(argv, environ=None):
    args = local_runner.build_parser(environ or {}).parse_args(argv)
    return local_runner.config_from_args(args)


def test_flags_build_the_one_config(image_folder, tmp_path):
    config = config_for(
        [
            "--data",
            str(image_folder),
            "--epochs",
            "3",
            "--image-size",
            "64",
            "--outputs",
            str(tmp_path),
        ]
    )
    assert config.data_root == str(image_folder)
    assert config.training.epochs == 3
    assert config.training.image_size == 64
    assert config.pipeline_root == str(tmp_path / "pipeline")
    assert config.serving_dir == str(tmp_path / "serving")
    assert config.metadata_path == str(tmp_path / "pipeline" / "metadata.sqlite")
    assert config.input_format == "images"


def test_environment_variables_are_the_fallback(image_folder, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    environ = {
        "DATA": str(image_folder),
        "BATCH_SIZE": "8",
        "BACKBONE": "vgg16",
        "PIPELINE_ROOT": "relative/root",
        "GATE_FLOOR": "0.8",
    }
    config = config_for([], environ)
    assert config.training.batch_size == 8
    assert config.training.backbone == "vgg16"
    assert config.gate.floor == 0.8
    assert config.gate.metric == "accuracy"
    assert config.pipeline_root == os.path.join(str(tmp_path), "relative", "root")


def test_flags_win_over_the_environment(image_folder):
    config = config_for(["--data", str(image_folder), "--epochs", "2"], {"EPOCHS": "9"})
    assert config.training.epochs == 2


def test_the_gate_can_judge_by_another_metric(image_folder):
    config = config_for(
        ["--data", str(image_folder), "--gate-metric", "loss", "--gate-floor", "1.2"],
        {"GATE_TOLERANCE": "0.1"},
    )
    assert (config.gate.metric, config.gate.floor, config.gate.tolerance) == ("loss", 1.2, 0.1)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--gate-metric", "f2"], "gate metric must be one of accuracy, macro_f1"),
        (["--gate-metric", "loss"], "loss gate needs a ceiling: pass --gate-floor"),
        (["--gate-floor", "1.5"], "floor of accuracy must be in \\[0, 1\\], got 1.5"),
        (["--gate-tolerance", "-0.1"], "tolerance must be >= 0, got -0.1"),
    ],
)
def test_a_bad_gate_is_refused_before_anything_runs(image_folder, argv, message):
    with pytest.raises(ValueError, match=message):
        config_for(["--data", str(image_folder), *argv])


def test_no_data_folder_is_a_clear_error():
    with pytest.raises(ingest.DataError, match="DATA="):
        config_for([])


def test_latest_snapshot_is_taken_as_the_run_starts(image_folder, tmp_path):
    root = tmp_path / "snapshots"
    root.mkdir()
    (root / "2026-11-01").mkdir()
    image_folder.rename(root / "2026-11-22")

    config = config_for(["--data", str(root)], environ={"LATEST_SNAPSHOT": "yes"})

    assert config.data_root == str(root / "2026-11-22")
    assert config.latest_snapshot is False  # already resolved


def test_latest_snapshot_on_an_image_folder_is_explained(image_folder):
    with pytest.raises(ingest.DataError, match="looks like an image folder"):
        config_for(["--data", str(image_folder), "--latest-snapshot", "true"])


def test_main_reports_bad_settings_without_a_traceback(image_folder, capsys):
    code = local_runner.main(["--data", str(image_folder), "--dropout", "1.5"])
    assert code == 2
    assert "dropout=1.5" in capsys.readouterr().err


def test_main_stops_on_a_bad_folder_before_running(tmp_path, capsys):
    (tmp_path / "only").mkdir()
    (tmp_path / "only" / "a.png").write_bytes(b"x")
    code = local_runner.main(["--data", str(tmp_path), "--outputs", str(tmp_path / "out")])
    assert code == 2
    assert "one class" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_pretrained_backbone_is_the_default_when_present(image_folder, tmp_path):
    pretrained = tmp_path / "pretrained"
    argv = ["--data", str(image_folder), "--pretrained-dir", str(pretrained)]
    assert config_for(argv).training.weights == "none"

    pretrained.mkdir()
    weights = pretrained / weights_filename("mobilenet_v2", 0.35)
    weights.write_bytes(b"")
    assert config_for(argv).training.weights == str(weights)
    assert config_for([*argv, "--weights", "none"]).training.weights == "none"
    assert config_for([*argv, "--backbone", "vgg16"]).training.weights == "none"


def test_main_stops_on_a_missing_weights_file_before_running(image_folder, tmp_path, capsys):
    missing = tmp_path / "backbone.weights.h5"
    argv = ["--data", str(image_folder), "--weights", str(missing), "--outputs", str(tmp_path)]
    assert local_runner.main(argv) == 2
    assert str(missing) in capsys.readouterr().err
    assert not (tmp_path / "pipeline").exists()


def test_main_stops_on_an_unusable_pipeline_root_before_running(image_folder, tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    argv = ["--data", str(image_folder), "--pipeline-root", str(blocker / "root")]
    assert local_runner.main([*argv, "--outputs", str(tmp_path / "out")]) == 2
    assert f"Cannot write to '{blocker / 'root'}'" in capsys.readouterr().err


def test_transfer_and_augmentation_settings_come_from_the_environment(image_folder):
    environ = {"AUGMENT_FLIP": "false", "STRATEGY": "full", "FINE_TUNE_LR": "1e-5"}
    config = config_for(["--data", str(image_folder), "--augment-zoom", "0.1"], environ)
    assert config.augmentation == AugmentationSpec(flip=False, zoom=0.1)
    assert config.training.strategy == "full"
    assert config.training.fine_tune_learning_rate == 1e-5


def test_a_bad_augmentation_value_stops_before_running_naming_it(image_folder, tmp_path, capsys):
    outputs = tmp_path / "outputs"
    argv = ["--data", str(image_folder), "--augment-zoom", "1.5", "--outputs", str(outputs)]
    assert local_runner.main(argv) == 2
    assert "zoom=1.5" in capsys.readouterr().err
    assert not outputs.exists()


def test_a_bad_boolean_is_refused_naming_the_flag(image_folder, capsys):
    with pytest.raises(SystemExit):
        config_for(["--data", str(image_folder), "--augment-flip", "maybe"])
    assert "--augment-flip" in capsys.readouterr().err


def test_a_rebuilt_weights_file_changes_the_trainer_settings(image_folder, tmp_path):
    weights = tmp_path / "backbone.weights.h5"
    argv = ["--data", str(image_folder), "--weights", str(weights)]
    weights.write_bytes(b"first build")
    first = config_for(argv).training
    weights.write_bytes(b"second build")
    second = config_for(argv).training

    assert first.weights == second.weights == str(weights)
    assert first.weights_digest and first.weights_digest != second.weights_digest
    assert (
        config_for(["--data", str(image_folder), "--weights", "none"]).training.weights_digest == ""
    )


def test_a_file_moved_between_classes_changes_what_the_example_gen_cache_is_keyed_on(
    image_folder, tmp_path
):
    from components.example_gen import EXAMPLE_GEN_NODE_ID
    from pipeline.dag import create_pipeline

    def example_gen_options() -> str:
        config = config_for(["--data", str(image_folder), "--outputs", str(tmp_path)])
        components = create_pipeline(config).components
        (example_gen,) = [c for c in components if c.id == EXAMPLE_GEN_NODE_ID]
        return example_gen.exec_properties["custom_config"]

    before = example_gen_options()
    (image_folder / "cat" / "rgb.png").rename(image_folder / "dog" / "rgb.png")

    assert example_gen_options() != before
