"""The pretraining Trainer's run_fn: learn a backbone on the large source task, keep its weights.

The seeds' recipe: pre-train on a large, related problem, then fine-tune on the small one. The
pretraining pipeline (pipeline/dag.py: create_pretrain_pipeline) feeds this Trainer the
generated source shapes through the same ImageExampleGen and Transform as the main pipeline, so
the backbone learns on images prepared exactly as the target's will be. What it leaves is not a
serving model but the backbone's weights, `BACKBONE_WEIGHTS_FILE` in the model folder, with
`PRETRAINING_RECORD_FILE` (source accuracy, epochs) beside it.
"""

from __future__ import annotations

import json
import os

import tensorflow as tf
import tensorflow_transform as tft
import tf_keras as keras
from tfx.components.trainer.fn_args_utils import FnArgs

from components import features
from components.common import tracing
from components.example_gen.class_names import examples_dir_of_split_pattern, read_class_names
from components.trainer import training
from components.trainer.model import build_backbone
from components.trainer.training_config import PretrainConfig

BACKBONE_WEIGHTS_FILE = "backbone.weights.h5"
PRETRAINING_RECORD_FILE = "pretraining.json"


def build_pretraining_model(config: PretrainConfig, num_classes: int) -> tuple[keras.Model, ...]:
    """(classifier for the source task, the backbone inside it), compiled."""
    keras.utils.set_random_seed(config.seed)
    backbone = build_backbone(config.backbone_config())  # BatchNorm momentum set for scratch
    inputs = keras.Input(
        (config.image_size, config.image_size, features.CHANNELS),
        name=features.TRANSFORMED_IMAGE_KEY,
    )
    outputs = keras.layers.Dense(num_classes, activation="softmax")(backbone(inputs))
    model = keras.Model(inputs, outputs, name="pretraining")
    model.compile(
        optimizer=keras.optimizers.Adam(config.learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
    )
    return model, backbone


def run_fn(fn_args: FnArgs) -> None:
    """TFX Trainer entry point: train on the source task, save the backbone and a record."""
    tracing.leave_libraries_unconverted()
    config = PretrainConfig.from_dict(fn_args.custom_config)
    class_names = read_class_names(examples_dir_of_split_pattern(fn_args.train_files[0]))
    tft_output = tft.TFTransformOutput(fn_args.transform_graph_path)
    train_data = training.make_dataset(
        fn_args.train_files, tft_output, config.batch_size, shuffle_seed=config.seed
    )
    held_out = training.make_dataset(fn_args.eval_files, tft_output, config.batch_size)
    model, backbone = build_pretraining_model(config, len(class_names))
    history = model.fit(
        train_data,
        validation_data=held_out,
        epochs=config.epochs,
        callbacks=[keras.callbacks.TensorBoard(fn_args.model_run_dir, profile_batch=0)],
        verbose=2,
    )
    tf.io.gfile.makedirs(fn_args.serving_model_dir)
    backbone.save_weights(os.path.join(fn_args.serving_model_dir, BACKBONE_WEIGHTS_FILE))
    record = {
        "source_classes": class_names,
        "train_images": training.count_examples(fn_args.train_files),
        "held_out_images": training.count_examples(fn_args.eval_files),
        "source_train_accuracy": round(float(history.history["accuracy"][-1]), 4),
        "source_heldout_accuracy": round(float(history.history["val_accuracy"][-1]), 4),
        "config": config.to_dict(),
    }
    with tf.io.gfile.GFile(
        os.path.join(fn_args.serving_model_dir, PRETRAINING_RECORD_FILE), "w"
    ) as f:
        json.dump(record, f, indent=2)
