"""`make pretrain` through its own small TFX pipeline: the backbone it leaves is the one the
Trainer then loads and freezes."""

import json
import os
from pathlib import Path

import numpy as np
import pytest

from components.trainer import source_task
from components.trainer.model import backbone_of, build_model
from components.trainer.training_config import PretrainConfig, TrainingConfig
from pipeline import demo_data, pretrain
from pipeline.config import weights_filename
from tests.helpers import tree_digest

# 10 a class: the fewest that give each source class a held-out image.
TINY = PretrainConfig(image_size=32, per_class=10, epochs=1, batch_size=8, held_out_percent=25)


@pytest.mark.unit
def test_source_images_are_written_once_and_are_not_the_demo_classes(tmp_path):
    assert set(demo_data.SOURCE_CLASSES).isdisjoint(demo_data.CLASSES)
    config = pretrain.pipeline_config(TINY, str(tmp_path))

    assert pretrain.write_source_images(config) == TINY.per_class * len(demo_data.SOURCE_CLASSES)
    written = tree_digest(config.source_root)
    assert sorted(os.listdir(config.source_root)) == sorted(
        [*demo_data.SOURCE_CLASSES, demo_data.COMPLETE_MARKER]
    )
    pretrain.write_source_images(config)
    assert tree_digest(config.source_root) == written


@pytest.mark.unit
def test_weights_file_name_tells_architectures_apart():
    assert weights_filename("mobilenet_v2", 0.35) != weights_filename("mobilenet_v2", 1.0)
    assert weights_filename("vgg16", 0.35) == "vgg16.weights.h5"


@pytest.mark.e2e
def test_the_pretraining_pipeline_leaves_a_backbone_the_trainer_loads_frozen(tmp_path):
    record = pretrain.pretrain(TINY, str(tmp_path))

    path = tmp_path / weights_filename(TINY.backbone, TINY.backbone_alpha)
    assert json.loads((tmp_path / (path.name + pretrain.RECORD_SUFFIX)).read_text()) == record
    assert record["images"] == TINY.per_class * len(demo_data.SOURCE_CLASSES)
    assert record["source_classes"] == sorted(demo_data.SOURCE_CLASSES)
    # The accuracy the Trainer measured on its held-out source images, carried over unchanged.
    trained = json.loads(
        (Path(record["trainer_model"]) / source_task.PRETRAINING_RECORD_FILE).read_text()
    )
    assert record["source_heldout_accuracy"] == trained["source_heldout_accuracy"]
    assert not [name for name in os.listdir(tmp_path) if name.startswith(".partial")]

    model = build_model(TrainingConfig(image_size=32, weights=str(path)), num_classes=4)
    backbone = backbone_of(model)
    assert backbone.trainable is False
    untrained = backbone_of(build_model(TrainingConfig(image_size=32), num_classes=4))
    assert not np.array_equal(untrained.weights[0].numpy(), backbone.weights[0].numpy())
    # The same weights as the Trainer's own output, copied whole.
    trainer_copy = os.path.join(record["trainer_model"], "backbone.weights.h5")
    with open(trainer_copy, "rb") as a, open(path, "rb") as b:
        assert a.read() == b.read()


@pytest.mark.unit
def test_bad_settings_stop_before_anything_is_written(tmp_path, capsys):
    out = tmp_path / "pretrained"
    assert pretrain.main(["--pretrained-dir", str(out), "--epochs", "0", "--image-size", "8"]) == 2
    error = capsys.readouterr().err
    assert "epochs=0" in error and "image_size=8" in error
    assert not out.exists()
