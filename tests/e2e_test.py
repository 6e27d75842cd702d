"""End to end: real LocalDagRunner runs of the whole pipeline on tiny generated data.

What these prove: every component runs, a blessed model is pushed, and the pushed SavedModel
honours the serving contract on raw PNG and JPEG bytes; a re-run is served from cache; data that
breaks the schema stops the run before Transform. What they do not: model quality (tiny data,
one epoch, a zero accuracy floor).
"""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request

import numpy as np
import pytest
import tensorflow as tf

from components import features
from components.evaluator.blessing import Gate
from components.example_gen.class_names import read_class_names
from components.registry import model_card, registry
from components.trainer import serving_requests
from components.trainer.export import ASSETS_EXTRA_DIR
from components.trainer.training_config import TrainingConfig
from components.transform.augmentation_spec import AugmentationSpec
from pipeline import demo_data, exit_codes, tensorboard
from pipeline.config import CURATED_SCHEMA, PipelineConfig
from tests.helpers import SMALL_DATA_EVAL_PERCENT, encode_image, run_and_read_summary, tree_digest

pytestmark = pytest.mark.e2e

TINY_TRAINING = TrainingConfig(image_size=32, epochs=1, batch_size=16)
UPSTREAM_OF_EVALUATOR = [
    "ImageExampleGen",
    "StatisticsGen",
    "ImportSchemaGen",
    "ExampleValidator",
    "Transform",
    "Tuner",
    "Trainer",
]


def tiny_config(root, data_root, **settings) -> PipelineConfig:
    return PipelineConfig(
        data_root=str(data_root),
        pipeline_root=str(root / "pipeline"),
        serving_dir=str(root / "serving"),
        schema_path=str(CURATED_SCHEMA),
        metadata_path=str(root / "pipeline" / "metadata.sqlite"),
        gate=Gate(floor=0.0),  # one epoch on 40 images: the gate's arithmetic is not on trial here
        training=TINY_TRAINING,
        **{"eval_percent": SMALL_DATA_EVAL_PERCENT, **settings},
    )


@pytest.fixture(scope="module")
def first_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("e2e")
    data = root / "data"
    demo_data.generate(str(data), per_class=10, seed=5)
    before = tree_digest(str(data))
    # With the optional Tuner stage on, so one run proves both paths through the Trainer.
    augmentation = AugmentationSpec(flip=False, zoom=0.1)
    config = tiny_config(root, data, tune=True, tuner_trials=2, augmentation=augmentation)
    code, summary = run_and_read_summary(config, root / "outputs")
    return {"root": root, "config": config, "code": code, "summary": summary, "data": before}


def test_every_component_ran_and_a_blessed_model_was_pushed(first_run):
    summary = first_run["summary"]
    assert first_run["code"] == 0, summary["error"]
    assert summary["status"] == "succeeded"
    for name, component in summary["components"].items():
        assert component["status"] == "complete", name
    assert summary["blessed"] is True
    assert summary["metrics"]["baseline"] is None
    assert summary["pipeline_root"] == first_run["config"].pipeline_root
    assert 100 < summary["peak_memory_mb"] < 24 * 1024

    pushed = summary["pushed_model_dir"]
    assert pushed == os.path.join(first_run["config"].serving_dir, "1")
    assert tf.saved_model.contains_saved_model(pushed)
    # TF Serving warms the version up with these as it loads it (docs/serving.md).
    warmup = serving_requests.read_warmup_requests(os.path.join(pushed, ASSETS_EXTRA_DIR))
    batches = [tf.make_ndarray(r.inputs[features.IMAGE_KEY]) for r in warmup]
    assert [len(batch) for batch in batches][0] == 1 and len(batches) == 2
    serve = tf.saved_model.load(pushed).signatures[features.SERVING_SIGNATURE]
    for batch in batches:
        answer = serve(**{features.IMAGE_KEY: tf.constant(batch)})
        assert answer[features.CLASS_NAME_KEY].shape == (len(batch),)
    # The summary's scores are the ones the pushed version's record keeps.
    with open(os.path.join(pushed, registry.RECORD_FILE)) as f:
        pushed_metrics = json.load(f)["metrics"]
    assert summary["metrics"]["candidate"]["accuracy"] == pytest.approx(
        pushed_metrics["accuracy"], abs=1e-4
    )
    # And its card tells them, for the classes the data has.
    with open(os.path.join(pushed, model_card.MODEL_CARD_FILE)) as f:
        card = f.read()
    assert f"| accuracy | {pushed_metrics['accuracy']:.4f} | - |" in card
    assert "Images into 4 classes: `circle`, `square`, `star`, `triangle`." in card


def test_the_trainer_trained_with_the_tuners_best_values(first_run):
    summary = first_run["summary"]
    tuned = summary["tuned_hyperparameters"]
    assert summary["components"]["Tuner"]["status"] == "complete"
    assert set(tuned) == {"dropout", "weight_decay", "learning_rate", "unfreeze_fraction"}
    with open(summary["training"]["effective_config"]) as f:
        effective = json.load(f)
    assert effective["tuned_hyperparameters"] == tuned
    for name in ("dropout", "weight_decay", "learning_rate"):
        assert effective["settings"][name] == tuned[name], name
    assert os.path.exists(summary["training"]["learning_curves"])
    # The augmentation the Trainer applied is the spec Transform was given and wrote.
    assert effective["regularizers"]["augmentation"] == {
        "rotation_degrees": 20.0,
        "shift": 0.2,
        "zoom": 0.1,
        "noise_stddev": 0.05,
    }


def test_the_data_steps_ran_in_process_with_nothing_built_or_downloaded(first_run):
    """The local Beam settings (LOCAL_BEAM_ARGS): TFX built no sdist of itself for the data
    steps' workers, and Beam never tried PrismRunner, which downloads a binary at run time."""
    with open(first_run["summary"]["log_file"]) as f:
        log = f.read()
    assert "Component Transform is running" in log  # the file holds the data steps' lines
    assert "Component Evaluator is running" in log
    assert "Creating temporary sdist package" not in log
    assert "PrismRunner" not in log


def test_input_folder_is_left_untouched(first_run):
    assert tree_digest(first_run["config"].data_root) == first_run["data"]


def test_pushed_model_classifies_raw_png_and_jpeg_bytes(first_run):
    model = tf.saved_model.load(first_run["summary"]["pushed_model_dir"])
    serve = model.signatures[features.SERVING_SIGNATURE]
    images = tf.constant(
        [
            encode_image("RGB", size=(50, 40), fmt="PNG", seed=1),
            encode_image("L", size=(90, 120), fmt="JPEG", seed=2),
            encode_image("RGBA", size=(33, 33), fmt="PNG", seed=3),
        ]
    )

    outputs = serve(**{features.IMAGE_KEY: images})

    probabilities = outputs[features.PROBABILITIES_KEY].numpy()
    assert probabilities.dtype == np.float32
    assert probabilities.shape == (3, len(demo_data.CLASSES))
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    class_ids = outputs[features.CLASS_ID_KEY].numpy()
    assert class_ids.dtype == np.int64
    np.testing.assert_array_equal(class_ids, probabilities.argmax(axis=1))
    names = [n.decode() for n in outputs[features.CLASS_NAME_KEY].numpy()]
    assert names == [sorted(demo_data.CLASSES)[i] for i in class_ids]
    again = serve(**{features.IMAGE_KEY: images})[features.PROBABILITIES_KEY].numpy()
    np.testing.assert_array_equal(probabilities, again)


def test_pushed_model_carries_its_class_names(first_run):
    pushed = first_run["summary"]["pushed_model_dir"]
    names = read_class_names(os.path.join(pushed, "assets.extra"))
    assert names == sorted(demo_data.CLASSES)


def test_make_tensorboard_serves_the_last_runs_training_logs(first_run):
    """The real command: TensorBoard starts on the Trainer's logs and answers with the
    train and validation scalars the Trainer wrote."""
    outputs = first_run["root"] / "outputs"
    with socket.socket() as probe:
        probe.bind(("localhost", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "pipeline.tensorboard", "--outputs", str(outputs)]
    board = subprocess.Popen(
        [*command, "--port", str(port)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        runs = None
        for _ in range(120):  # TensorBoard takes a few seconds to start
            try:
                with urllib.request.urlopen(f"http://localhost:{port}/data/runs", timeout=2) as r:
                    runs = json.load(r)
                if runs:
                    break
            except OSError:
                assert board.poll() is None, board.stdout.read().decode()[-3000:]
            time.sleep(0.5)
    finally:
        board.terminate()
        board.wait(timeout=30)
    assert sorted(runs) == ["train", "validation"]
    assert (
        tensorboard.last_run_logdir(str(outputs)) == first_run["summary"]["training"]["model_run"]
    )


def test_a_second_run_on_the_same_data_comes_from_cache(first_run):
    root = first_run["root"]
    # With REQUIRE_PUSH: nothing new is pushed, so a job that must deliver a model is told.
    code, summary = run_and_read_summary(
        first_run["config"], root / "outputs-again", require_push=True
    )

    assert code == exit_codes.NOT_PUSHED, summary["error"]
    for name in UPSTREAM_OF_EVALUATOR:
        assert summary["components"][name]["status"] == "cached", name
    # The served version's training data is what the gate checks drift against, each run.
    assert summary["components"]["ValidationGate"]["status"] == "complete"
    # The first run's model is now the served baseline the candidate is compared with: the
    # same model, so blessed, but the registry already holds it and it is not pushed again.
    assert summary["components"]["BaselineModel"]["status"] == "complete"
    assert summary["metrics"]["baseline"] == summary["metrics"]["candidate"]
    assert summary["blessed"] is True
    assert summary["push"] == {"baseline_version": 1, "version": None, "already_pushed_as": 1}
    assert summary["pushed_model_dir"] is None


def test_data_breaking_the_schema_stops_before_transform(tmp_path):
    data = tmp_path / "records"
    data.mkdir()
    (data / "class_names.txt").write_text("a\nb\n")
    with tf.io.TFRecordWriter(str(data / "part-0.tfrecord")) as writer:
        for i in range(20):
            image = encode_image(seed=i)
            example = tf.train.Example()
            example.features.feature[features.IMAGE_KEY].bytes_list.value.append(image)
            example.features.feature[features.FILENAME_KEY].bytes_list.value.append(b"x%d" % i)
            # No label: the curated schema requires one in every example.
            writer.write(example.SerializeToString())
    config = tiny_config(tmp_path, data)
    config = PipelineConfig(**{**config.__dict__, "input_format": "tfrecord"})

    code, summary = run_and_read_summary(config, tmp_path / "outputs")

    assert code == exit_codes.DATA_REFUSED
    assert summary["status"] == "failed"
    assert "label" in summary["error"]
    assert summary["components"]["ValidationGate"]["status"] == "failed"
    for name in ["Transform", "Trainer", "Evaluator", "Pusher"]:
        assert summary["components"][name]["status"] == "not run", name
    assert summary["pushed_model_dir"] is None


def test_too_many_corrupt_images_fail_at_ingestion_naming_them(tmp_path, capsys):
    data = tmp_path / "images"
    demo_data.generate(str(data), per_class=5, seed=2)
    (data / "star" / "truncated.png").write_bytes(encode_image(size=(40, 40))[:50])
    (data / "circle" / "error-page.jpg").write_bytes(b"<html>502 Bad Gateway</html>")
    before = tree_digest(str(data))

    code, summary = run_and_read_summary(tiny_config(tmp_path, data), tmp_path / "outputs")

    assert code == exit_codes.DATA_REFUSED
    assert summary["components"]["ImageExampleGen"]["status"] == "failed"
    assert "star/truncated.png" in summary["error"]
    assert "circle/error-page.jpg" in summary["error"]
    assert summary["components"]["Trainer"]["status"] == "not run"
    printed = capsys.readouterr()
    assert "circle/error-page.jpg" in printed.out
    assert "Traceback" not in printed.out + printed.err
    assert tree_digest(str(data)) == before
