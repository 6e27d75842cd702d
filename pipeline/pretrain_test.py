"""A small `make pretrain`: the saved backbone is the one the Trainer then loads and freezes."""

import json

import numpy as np
import pytest

from components.model import build_model
from components.training_config import TrainingConfig
from pipeline import demo_data, pretrain

pytestmark = pytest.mark.unit

TINY = pretrain.PretrainConfig(image_size=32, per_class=3, epochs=1, batch_size=8)


def test_source_task_is_different_from_the_demo_task():
    assert set(demo_data.SOURCE_CLASSES).isdisjoint(demo_data.CLASSES)
    images, labels = pretrain.source_images(TINY)
    assert images.shape == (3 * len(demo_data.SOURCE_CLASSES), 32, 32, 3)
    np.testing.assert_allclose(images.mean(axis=(0, 1, 2)), 0.0, atol=1e-4)
    assert sorted(set(labels)) == list(range(len(demo_data.SOURCE_CLASSES)))


def test_pretrained_weights_are_loaded_and_frozen_by_the_trainer_model(tmp_path):
    path = str(tmp_path / pretrain.weights_filename(TINY.backbone, TINY.backbone_alpha))
    record = pretrain.pretrain(TINY, path, verbose=0)

    with open(path + pretrain.RECORD_SUFFIX) as f:
        assert json.load(f) == record
    assert record["images"] == 3 * len(demo_data.SOURCE_CLASSES)
    _, trained_backbone = pretrain.build_pretraining_model(TINY)
    trained_backbone.load_weights(path)

    model = build_model(TrainingConfig(image_size=32, weights=path), num_classes=4)
    backbone = model.layers[1]
    assert backbone.trainable is False
    for saved, loaded in zip(trained_backbone.weights, backbone.weights, strict=True):
        np.testing.assert_array_equal(saved.numpy(), loaded.numpy())
    untrained = build_model(TrainingConfig(image_size=32), num_classes=4).layers[1]
    assert not np.array_equal(untrained.weights[0].numpy(), backbone.weights[0].numpy())


def test_weights_file_name_tells_architectures_apart():
    assert pretrain.weights_filename("mobilenet_v2", 0.35) != pretrain.weights_filename(
        "mobilenet_v2", 1.0
    )
    assert pretrain.weights_filename("vgg16", 0.35) == "vgg16.weights.h5"
