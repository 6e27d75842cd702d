"""The Trainer's entry point itself, `training.run_fn`, on FnArgs as TFX builds them: raw
gzipped examples, a transform graph analyzed by tf.Transform with the augmentation spec
beside it, and the training settings as custom_config.

What it pins: augmentation reaches the batches the model fits on, and never the validation
batches that early stopping and the recorded losses judge; and what run_fn exports serves
raw image bytes with the class names it found.
"""

import io
import json
import os
import shutil

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image
from tensorflow.python.autograph.impl import api as autograph_api
from tfx.components.trainer.fn_args_utils import FnArgs

from components import features
from components.example_gen import ingest, split_dir
from components.example_gen.class_names import write_class_names
from components.trainer import serving_requests, training, training_report
from components.trainer.export import ASSETS_EXTRA_DIR
from components.trainer.training_config import TrainingConfig
from components.transform import augmentation
from components.transform.augmentation_spec import AugmentationSpec
from tests.helpers import encode_image, transform_with_graph

pytestmark = pytest.mark.component

CLASSES = ["cat", "dog"]
PER_CLASS = 20
IMAGE_SIZE = 32
# No weights, so from scratch: the fit batches are images (a pretrained backbone's head fits
# on features computed once); no dropout or weight decay, so a loss is the images'
# cross-entropy alone.
CONFIG = TrainingConfig(
    image_size=IMAGE_SIZE,
    weights="none",
    epochs=2,
    batch_size=8,
    dropout=0.0,
    weight_decay=0.0,
    early_stopping=False,
    seed=3,
)


# The eval split's images: one colour each, so a thumbnail of one is recognizably that one.
EVAL_COLORS = [(200, 30, 30), (30, 200, 30), (30, 30, 200)]


def solid_png(size: tuple[int, int], color: tuple[int, int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, "PNG")
    return buffer.getvalue()


def raw_examples() -> list[tf.train.Example]:
    """Random images of the two classes, interleaved, in the order the train split holds them."""
    examples = []
    for i in range(PER_CLASS):
        for label, name in enumerate(CLASSES):
            image = encode_image(size=(24, 20), seed=100 * label + i)
            examples.append(ingest.make_example(image, label, f"{name}/{i}.png"))
    return examples


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> dict:
    """An Examples folder (train split and class names) and a transform graph, as TFX leaves
    them for the Trainer."""
    root = tmp_path_factory.mktemp("trainer-inputs")
    examples_dir = str(root / "examples")
    train_dir = split_dir(examples_dir, features.TRAIN_SPLIT)
    os.makedirs(train_dir)
    examples = raw_examples()
    eval_dir = split_dir(examples_dir, features.EVAL_SPLIT)
    os.makedirs(eval_dir)
    eval_images = [solid_png((80, 48), color) for color in EVAL_COLORS]
    options = tf.io.TFRecordOptions(compression_type="GZIP")
    with tf.io.TFRecordWriter(os.path.join(train_dir, "data.gz"), options) as writer:
        for example in examples:
            writer.write(example.SerializeToString())
    with tf.io.TFRecordWriter(os.path.join(eval_dir, "data.gz"), options) as writer:
        for i, image in enumerate(eval_images):
            writer.write(ingest.make_example(image, i % 2, f"eval/{i}.png").SerializeToString())
    write_class_names(examples_dir, CLASSES)

    labels = [e.features.feature[features.LABEL_KEY].int64_list.value[0] for e in examples]
    images = [e.features.feature[features.IMAGE_KEY].bytes_list.value[0] for e in examples]
    graph_dir, _ = transform_with_graph(images, labels, str(root), IMAGE_SIZE)
    return {
        "examples": examples,
        "train_pattern": os.path.join(train_dir, "*"),
        "eval_pattern": os.path.join(eval_dir, "*"),
        "eval_images": eval_images,
        "graph": graph_dir,
    }


def run_trainer(inputs: dict, folder, spec: AugmentationSpec) -> tuple[dict, str]:
    """run_fn on the inputs, `spec` written beside a copy of the transform graph as Transform
    writes it; returns the training history it recorded and the exported model's folder."""
    graph = str(folder / "transform_graph")
    shutil.copytree(inputs["graph"], graph)
    augmentation.write_spec(graph, spec)
    fn_args = FnArgs(
        train_files=[inputs["train_pattern"]],
        eval_files=[inputs["eval_pattern"]],
        transform_graph_path=graph,
        serving_model_dir=str(folder / "serving_model"),
        model_run_dir=str(folder / "model_run"),
        custom_config=CONFIG.to_dict(),
        hyperparameters=None,
    )

    training.run_fn(fn_args)

    with open(folder / "model_run" / training_report.HISTORY_FILE) as f:
        return json.load(f)["history"], fn_args.serving_model_dir


def clean_validation_loss(model_dir: str, examples: list[tf.train.Example]) -> float:
    """The exported model's cross-entropy on the validation part of the train split (every
    HOLDOUT_EVERY-th example, as run_fn holds them out), from the raw bytes, unaugmented."""
    held_out = examples[:: training.HOLDOUT_EVERY]
    images = [e.features.feature[features.IMAGE_KEY].bytes_list.value[0] for e in held_out]
    labels = [e.features.feature[features.LABEL_KEY].int64_list.value[0] for e in held_out]
    serve = tf.saved_model.load(model_dir).signatures[features.SERVING_SIGNATURE]
    probabilities = serve(**{features.IMAGE_KEY: tf.constant(images)})[features.PROBABILITIES_KEY]
    answered = probabilities.numpy()[np.arange(len(labels)), labels]
    return float(-np.log(np.maximum(answered, 1e-7)).mean())


@pytest.fixture(scope="module")
def trained_and_converted(inputs, tmp_path_factory) -> tuple[dict, list[str]]:
    """run_fn twice with the same seed, augmentation off, and every augmentation on; and the
    module of each function AutoGraph rewrote meanwhile (or found rewritten in its cache)."""
    converted = []
    convert = autograph_api._convert_actual

    def recording(entity, program_ctx):
        converted.append(getattr(entity, "__module__", None) or "")
        return convert(entity, program_ctx)

    runs = {}
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(autograph_api, "_convert_actual", recording)
        for name, spec in [("plain", AugmentationSpec.off()), ("augmented", AugmentationSpec())]:
            runs[name] = run_trainer(inputs, tmp_path_factory.mktemp(name), spec)
    return runs, converted


@pytest.fixture(scope="module")
def trained(trained_and_converted) -> dict:
    return trained_and_converted[0]


def test_autograph_leaves_the_data_export_and_tf_transform_code_as_written(trained_and_converted):
    """Rewriting a function costs trace time (tf.Transform's, 1.2 s a run) and none of this
    code branches on tensors. The augmentation is still rewritten: the recording sees it."""
    _, converted = trained_and_converted

    assert "components.transform.augmentation" in converted
    assert not [module for module in converted if module.startswith("tensorflow_transform")]
    assert not {"components.trainer.training", "components.trainer.export"} & set(converted)


def test_augmentation_changes_the_batches_the_model_fits_on(trained):
    """Same seed, same images, same order: only augmentation can change the training loss
    (the same seed trains the same model: training_test.py)."""
    plain, _ = trained["plain"]
    augmented, _ = trained["augmented"]

    assert plain["loss"][0] != pytest.approx(augmented["loss"][0], rel=1e-3)


def test_each_epochs_seconds_are_in_the_history_beside_its_loss(trained):
    history, _ = trained["plain"]

    assert len(history[training.EPOCH_SECONDS_KEY]) == len(history["loss"]) > 0
    assert all(seconds > 0 for seconds in history[training.EPOCH_SECONDS_KEY])


@pytest.mark.parametrize("run", ["plain", "augmented"])
def test_the_recorded_validation_loss_is_the_exported_models_on_unaugmented_images(
    trained, inputs, run
):
    """Early stopping and the kept epoch go by this loss: were the validation batches
    augmented, it would be the loss on other images than these."""
    history, model_dir = trained[run]

    assert clean_validation_loss(model_dir, inputs["examples"]) == pytest.approx(
        history["val_loss"][-1], rel=1e-4
    )


def test_what_run_fn_exports_answers_with_the_class_names_it_found(trained, inputs):
    _, model_dir = trained["augmented"]
    serve = tf.saved_model.load(model_dir).signatures[features.SERVING_SIGNATURE]
    image = inputs["examples"][0].features.feature[features.IMAGE_KEY].bytes_list.value[0]

    answer = serve(**{features.IMAGE_KEY: tf.constant([image])})

    assert answer[features.CLASS_NAME_KEY].numpy()[0].decode() in CLASSES
    assert answer[features.PROBABILITIES_KEY].shape == (1, len(CLASSES))


def test_the_exported_model_carries_tf_servings_warmup_requests_of_eval_images(trained, inputs):
    """TF Serving runs them as it loads the version: one image, then a batch, of eval images
    made small (IMAGE_SIZE on the longer side); they must be requests the signature answers."""
    _, model_dir = trained["augmented"]
    serve = tf.saved_model.load(model_dir).signatures[features.SERVING_SIGNATURE]

    requests = serving_requests.read_warmup_requests(os.path.join(model_dir, ASSETS_EXTRA_DIR))

    batches = [list(tf.make_ndarray(r.inputs[features.IMAGE_KEY])) for r in requests]
    assert [len(batch) for batch in batches] == [1, len(inputs["eval_images"])]
    assert batches[0] == batches[1][:1]
    for warmup, color in zip(batches[1], EVAL_COLORS, strict=True):
        small = tf.io.decode_png(warmup).numpy()
        assert small.shape == (IMAGE_SIZE * 48 // 80, IMAGE_SIZE, 3)  # 80x48 made 32 wide
        np.testing.assert_array_equal(np.unique(small.reshape(-1, 3), axis=0), [color])
    for request in requests:
        assert request.model_spec.signature_name == features.SERVING_SIGNATURE
        given = {name: tf.make_ndarray(tensor) for name, tensor in request.inputs.items()}
        answer = serve(**given)
        assert answer[features.PROBABILITIES_KEY].shape == (len(given[features.IMAGE_KEY]), 2)
