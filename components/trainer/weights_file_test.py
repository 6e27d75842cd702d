"""Backbone weights load exactly from every file kind Keras writes, and nothing in a file runs.

The files are written for real by tf-keras and by Keras 3 (both installed: TFX runs on the
first, a user's notebook may well use the second), as a bare backbone and as a whole classifier
with the backbone nested inside.
"""

import os

import keras as keras3
import numpy as np
import pytest
import tensorflow as tf
import tf_keras

from components.trainer import model, weights_file
from components.trainer.training_config import TrainingConfig

pytestmark = pytest.mark.unit

SIZE = 32
ALPHA = 0.35


def _backbone(keras_module, alpha: float = ALPHA):
    return keras_module.applications.MobileNetV2(
        include_top=False, pooling="avg", input_shape=(SIZE, SIZE, 3), alpha=alpha, weights=None
    )


def _classifier(keras_module, backbone):
    """Someone's whole model: the backbone nested as one layer, with a head of their own."""
    inputs = keras_module.Input((SIZE, SIZE, 3))
    outputs = keras_module.layers.Dense(3)(backbone(inputs))
    return keras_module.Model(inputs, outputs)


@pytest.fixture(scope="module")
def source_weights():
    """Random weights, so a default-initialised backbone cannot pass for a loaded one."""
    rng = np.random.default_rng(0)
    return [rng.normal(size=w.shape).astype("float32") for w in _backbone(tf_keras).weights]


@pytest.fixture(scope="module")
def saved_files(tmp_path_factory, source_weights):
    """One file per format, every one holding `source_weights` for the backbone."""
    out = tmp_path_factory.mktemp("weights")
    tk_backbone = _backbone(tf_keras)
    tk_backbone.set_weights(source_weights)
    tk_model = _classifier(tf_keras, tk_backbone)
    k3_backbone = _backbone(keras3)
    k3_backbone.set_weights(source_weights)
    k3_model = _classifier(keras3, k3_backbone)

    files = {
        "tf-keras backbone, legacy .h5": out / "tk_backbone.h5",
        "tf-keras backbone, .weights.h5": out / "tk_backbone.weights.h5",
        "tf-keras whole model, .h5": out / "tk_model.h5",
        "tf-keras whole model, .keras": out / "tk_model.keras",
        "tf-keras whole model, SavedModel": out / "tk_model_savedmodel",
        "Keras 3 backbone, .weights.h5": out / "k3_backbone.weights.h5",
        "Keras 3 whole model, .keras": out / "k3_model.keras",
        "Keras 3 whole model, exported SavedModel": out / "k3_model_export",
    }
    tk_backbone.save_weights(files["tf-keras backbone, legacy .h5"])
    tk_backbone.save_weights(files["tf-keras backbone, .weights.h5"])
    tk_model.save(files["tf-keras whole model, .h5"])
    tk_model.save(files["tf-keras whole model, .keras"])
    # Without traces: the same variables, a tenth of the time (no call functions traced).
    tk_model.save(files["tf-keras whole model, SavedModel"], save_format="tf", save_traces=False)
    k3_backbone.save_weights(files["Keras 3 backbone, .weights.h5"])
    k3_model.save(files["Keras 3 whole model, .keras"])
    k3_model.export(files["Keras 3 whole model, exported SavedModel"], verbose=False)
    return {label: str(path) for label, path in files.items()}


@pytest.mark.parametrize(
    "label",
    [
        "tf-keras backbone, legacy .h5",
        "tf-keras backbone, .weights.h5",
        "tf-keras whole model, .h5",
        "tf-keras whole model, .keras",
        "tf-keras whole model, SavedModel",
        "Keras 3 backbone, .weights.h5",
        "Keras 3 whole model, .keras",
        "Keras 3 whole model, exported SavedModel",
    ],
)
def test_backbone_gets_exactly_the_saved_weights(label, saved_files, source_weights):
    backbone = _backbone(tf_keras)

    report = weights_file.load_into(backbone, saved_files[label])

    loaded = backbone.get_weights()
    assert len(loaded) == len(source_weights) == report.arrays_loaded
    for got, want in zip(loaded, source_weights, strict=True):
        np.testing.assert_array_equal(got, want)


def test_trainer_model_starts_from_a_whole_model_file(saved_files, source_weights):
    config = TrainingConfig(
        image_size=SIZE, backbone_alpha=ALPHA, weights=saved_files["Keras 3 whole model, .keras"]
    )
    backbone = model.backbone_of(model.build_model(config, num_classes=2))
    np.testing.assert_array_equal(backbone.get_weights()[0], source_weights[0])


def test_other_width_is_refused_by_layer_and_shapes_and_nothing_is_set(tmp_path):
    wider = _backbone(tf_keras, alpha=1.0)
    path = str(tmp_path / "alpha1.weights.h5")
    wider.save_weights(path)
    backbone = _backbone(tf_keras)
    before = backbone.get_weights()

    with pytest.raises(weights_file.WeightsFileError, match=r"alpha1\.weights\.h5.*layer 'Conv1'"):
        weights_file.load_into(backbone, path)

    for got, want in zip(backbone.get_weights(), before, strict=True):
        np.testing.assert_array_equal(got, want)


def test_model_without_the_backbone_is_refused_naming_what_is_missing(tmp_path):
    inputs = tf_keras.Input((4,))
    unrelated = tf_keras.Model(inputs, tf_keras.layers.Dense(2)(inputs))
    path = str(tmp_path / "unrelated.h5")
    unrelated.save(path)

    with pytest.raises(weights_file.WeightsFileError, match=r"unrelated\.h5.*Conv1"):
        weights_file.load_into(_backbone(tf_keras), path)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("notes.h5", b"just text", "neither HDF5"),
        ("empty.keras", b"", "neither HDF5"),
    ],
)
def test_file_of_no_weights_format_is_refused(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(weights_file.WeightsFileError, match=message):
        weights_file.load_into(_backbone(tf_keras), str(path))


def test_folder_that_is_not_a_savedmodel_is_refused(tmp_path):
    with pytest.raises(weights_file.WeightsFileError, match="saved_model.pb"):
        weights_file.load_into(_backbone(tf_keras), str(tmp_path))


def test_code_in_a_file_never_runs(tmp_path, source_weights):
    """A Lambda layer's function is stored as bytecode; Keras's load_model would run it while
    rebuilding the model. Reading the weights must not."""
    marker = tmp_path / "code-ran"
    marker_path = str(marker)  # the function's closure is saved with it: plain text only
    backbone = _backbone(tf_keras)
    backbone.set_weights(source_weights)
    inputs = tf_keras.Input((SIZE, SIZE, 3))
    touched = tf_keras.layers.Lambda(lambda x: (open(marker_path, "w").close(), x)[1])(inputs)
    trojan = tf_keras.Model(inputs, tf_keras.layers.Dense(3)(backbone(touched)))
    path = str(tmp_path / "trojan.h5")
    trojan.save(path)
    os.remove(marker)  # building the model above ran the function once

    loaded = _backbone(tf_keras)
    weights_file.load_into(loaded, path)

    assert not marker.exists()
    np.testing.assert_array_equal(loaded.get_weights()[0], source_weights[0])


class _InitializerThatWrites(tf.saved_model.experimental.TrackableResource):
    """A resource whose initializer writes a file: tf.saved_model.load runs it on loading."""

    def __init__(self, marker: str):
        self.marker = marker
        super().__init__()

    def _create_resource(self):
        return tf.raw_ops.VarHandleOp(dtype=tf.float32, shape=[])

    def _initialize(self):
        tf.io.write_file(self.marker, "ran")
        return tf.raw_ops.AssignVariableOp(resource=self.resource_handle, value=1.0)


def test_code_in_a_savedmodel_never_runs(tmp_path, source_weights):
    marker = tmp_path / "initializer-ran"
    holder = tf.Module()
    holder.backbone = _backbone(tf_keras)
    holder.backbone.set_weights(source_weights)
    holder.sneaky = _InitializerThatWrites(str(marker))
    path = str(tmp_path / "trojan_savedmodel")
    tf.saved_model.save(holder, path)
    assert not marker.exists()

    loaded = _backbone(tf_keras)
    weights_file.load_into(loaded, path)

    assert not marker.exists()
    np.testing.assert_array_equal(loaded.get_weights()[0], source_weights[0])


def test_imagenet_without_network_says_how_to_supply_a_file(tmp_path, monkeypatch):
    """Keras downloads ImageNet weights from a fixed URL; pointing it at a closed loopback port
    makes "no network" certain (a real download here would be a test reaching outside)."""
    from tf_keras.src.applications import mobilenet_v2

    monkeypatch.setenv("KERAS_HOME", str(tmp_path))  # no cached download to fall back on
    monkeypatch.setattr(mobilenet_v2, "BASE_WEIGHT_PATH", "http://127.0.0.1:9/")
    config = TrainingConfig(image_size=96, weights="imagenet")

    with pytest.raises(model.WeightsUnavailableError, match="WEIGHTS=/path/to/"):
        model.build_backbone(config)
