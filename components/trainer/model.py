"""The classifier: a keras.applications backbone and a new regularized head.

Written against tf-keras (Keras 2), the Keras that TFX 1.16 and tf.Transform run on.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf
import tf_keras as keras
from absl import logging

from components import features
from components.trainer import weights_file
from components.trainer.training_config import TrainingConfig
from components.trainer.weights_file import WeightsUnavailableError

# keras.applications builds BatchNormalization with momentum 0.999, a window of thousands of
# steps that suits ImageNet; a run of a few hundred steps leaves the moving statistics near
# their initial 0 and 1, and the model in inference mode (validation, serving) sees noise.
# With 0.9 they follow the data within a few dozen steps (measured: from scratch on a real
# 10-class set, 0.10 accuracy with 0.999, 0.947 with 0.9).
BATCH_NORM_MOMENTUM = 0.9
HEAD_STANDARDIZATION = "head_standardization"
HEAD_DROPOUT = "head_dropout"
HEAD_SOFTMAX = "head_softmax"
# Added to each feature's variance by the head's standardization: a feature that never varies
# on the fit part is scaled by at most 1/sqrt(this) if it varies in serving (and its weight,
# never pulled by the data, is decayed toward zero meanwhile). BatchNormalization's default.
STANDARDIZATION_EPSILON = 1e-3

BACKBONES = {
    "mobilenet_v2": keras.applications.MobileNetV2,
    "efficientnet_b0": keras.applications.EfficientNetB0,
    "resnet50_v2": keras.applications.ResNet50V2,
    "vgg16": keras.applications.VGG16,
}

# Where a pretrained backbone may be cut, besides its output (TOP_LAYER): the start of each
# deeper stage, shallow to deep. Early layers hold what every image task shares (colour,
# edges, texture), late ones what the source task needed (Yosinski et al. 2014): on tiles of
# real photos, a linear probe on MobileNetV2's block_3 scored 0.93 with the `make pretrain`
# backbone where its output scored 0.48; on the demo's shapes the output is best. `auto`
# measures each (training.resolve_feature_layer). A backbone not listed is used whole.
TOP_LAYER = "top"
AUTO_LAYER = "auto"
FEATURE_LAYERS = {
    "mobilenet_v2": (
        "block_3_expand_relu",
        "block_6_expand_relu",
        "block_10_expand_relu",
        "block_13_expand_relu",
    ),
    "efficientnet_b0": (
        "block3a_expand_activation",
        "block4a_expand_activation",
        "block6a_expand_activation",
    ),
    "resnet50_v2": (
        "conv3_block1_preact_relu",
        "conv4_block1_preact_relu",
        "conv5_block1_preact_relu",
    ),
    "vgg16": ("block3_pool", "block4_pool"),
}


def feature_layer_candidates(backbone: str) -> tuple[str, ...]:
    """The layers `auto` measures, shallow to deep, the backbone's output last."""
    return (*FEATURE_LAYERS.get(backbone, ()), TOP_LAYER)


def is_pretrained(config: TrainingConfig) -> bool:
    """Whether the backbone starts from learnt weights rather than a random initialisation."""
    return config.weights not in ("none", "")


def build_backbone(config: TrainingConfig) -> keras.Model:
    """The convolutional base, without its ImageNet top, ending in global average pooling;
    cut at `config.feature_layer` unless that is the top (or `auto`, not yet measured)."""
    return cut_at(full_backbone(config), config.feature_layer)


def full_backbone(config: TrainingConfig) -> keras.Model:
    """The whole convolutional base, weights loaded, ending in global average pooling."""
    if config.backbone not in BACKBONES:
        raise ValueError(f"Unknown backbone {config.backbone!r}; choose one of {sorted(BACKBONES)}")
    kwargs = {
        "include_top": False,
        "pooling": "avg",
        "input_shape": (config.image_size, config.image_size, features.CHANNELS),
    }
    if config.backbone == "mobilenet_v2":
        kwargs["alpha"] = config.backbone_alpha
    weights = config.weights
    if weights == "imagenet":
        try:
            return set_batch_norm_momentum(BACKBONES[config.backbone](weights="imagenet", **kwargs))
        except Exception as e:  # the Keras download raises a bare Exception on no network
            raise WeightsUnavailableError(
                f"Could not download ImageNet weights for {config.backbone} ({e}). This machine "
                "may have no network access: on one that has, save them with "
                f"keras.applications.{BACKBONES[config.backbone].__name__}(weights='imagenet', "
                "include_top=False).save_weights('backbone.weights.h5'), copy the file here and "
                "set WEIGHTS=/path/to/backbone.weights.h5 (a .keras, .h5 or SavedModel of a "
                "whole model built on the backbone works too)."
            ) from e
    backbone = BACKBONES[config.backbone](weights=None, **kwargs)
    set_batch_norm_momentum(backbone)
    if is_pretrained(config):
        report = weights_file.load_into(backbone, weights)
        logging.info(
            "Backbone weights: %d arrays of %d layers from %s (%s)",
            report.arrays_loaded,
            report.layers_loaded,
            report.path,
            report.file_format,
        )
    return backbone


def cut_at(backbone: keras.Model, layer_name: str) -> keras.Model:
    """`backbone` up to `layer_name`, its activations averaged over space; the same layers
    (and weights), so what is cut off is never computed, in training or serving."""
    if layer_name in (TOP_LAYER, AUTO_LAYER):
        return backbone
    pooled = keras.layers.GlobalAveragePooling2D(name=f"{layer_name}_pool")(
        _layer(backbone, layer_name).output
    )
    return keras.Model(backbone.input, pooled, name=f"{backbone.name}_to_{layer_name}")


def features_at(backbone: keras.Model, layer_names: tuple[str, ...]) -> keras.Model:
    """One model giving the pooled activations at each of `layer_names` (TOP_LAYER: the
    backbone's output), so that measuring every depth costs one pass over the images."""
    outputs = [cut_at(backbone, name).output for name in layer_names]
    return keras.Model(backbone.input, outputs, name=f"{backbone.name}_depths")


def _layer(backbone: keras.Model, layer_name: str) -> keras.layers.Layer:
    try:
        return backbone.get_layer(layer_name)
    except ValueError:
        raise ValueError(
            f"feature_layer {layer_name!r} is not a layer of {backbone.name}: use "
            f"{AUTO_LAYER!r} (measured), {TOP_LAYER!r} (the whole backbone) or one of its "
            "layers' names"
        ) from None


def set_batch_norm_momentum(backbone: keras.Model) -> keras.Model:
    """Every BatchNorm layer of the backbone on BATCH_NORM_MOMENTUM (see there); frozen ones
    ignore it, so it matters only where BatchNorm trains."""
    for layer in backbone.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = BATCH_NORM_MOMENTUM
    return backbone


class TransferModel(keras.Model):
    """A functional model whose backbone can learn at a lower rate than its head.

    Differential learning rates: in fine-tuning, pretrained layers should move less than the
    new head. A Keras optimizer has one rate, so once `backbone_optimizer` is set, the train
    step applies the backbone's gradients through it and the rest through `optimizer`.
    Exported through `plain_model`, so a served model carries no custom class.
    """

    backbone_optimizer: keras.optimizers.Optimizer | None = None

    def train_step(self, data):
        if self.backbone_optimizer is None:
            return super().train_step(data)
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        (head_optimizer, head), (backbone_optimizer, backbone) = optimized_variables(self)
        with tf.GradientTape() as tape:
            predictions = self(x, training=True)
            loss = self.compute_loss(x, y, predictions, sample_weight)
        gradients = tape.gradient(loss, head + backbone)
        head_optimizer.apply_gradients(zip(gradients[: len(head)], head, strict=True))
        backbone_optimizer.apply_gradients(zip(gradients[len(head) :], backbone, strict=True))
        return self.compute_metrics(x, y, predictions, sample_weight)


def optimized_variables(
    model: keras.Model,
) -> list[tuple[keras.optimizers.Optimizer, list[tf.Variable]]]:
    """Each optimizer with the variables it updates: every trainable one through `optimizer`,
    or, once a `TransferModel` has a `backbone_optimizer`, the head's through `optimizer` and
    the backbone's through it."""
    backbone_optimizer = getattr(model, "backbone_optimizer", None)
    if backbone_optimizer is None:
        return [(model.optimizer, model.trainable_variables)]
    backbone_ids = {id(v) for v in backbone_of(model).trainable_variables}
    head = [v for v in model.trainable_variables if id(v) not in backbone_ids]
    backbone = [v for v in model.trainable_variables if id(v) in backbone_ids]
    return [(model.optimizer, head), (backbone_optimizer, backbone)]


def create_training_variables(model: keras.Model) -> None:
    """Creates, before `fit`, the variables Keras would create in the first train step: the
    optimizers' slots and the loss's and metrics' running totals.

    A tf.function whose first call creates variables is traced twice (once creating them,
    once without), and the train step is the costliest trace there is: MobileNetV2 at 32 px,
    one epoch of 4 batches, took 9.2 s in `fit` against 5.5 s with its variables made first
    (one trace). Every compile makes new optimizers and metrics, so each phase needs this.
    A model with no outputs yet (subclassed, never called) is left to Keras.
    """
    if not model.outputs:
        return
    predictions = tf.zeros([1, *model.outputs[0].shape[1:]])
    model.compiled_loss.build(predictions)
    model.compiled_metrics.build(predictions, tf.zeros([1], tf.int64))
    for optimizer, variables in optimized_variables(model):
        optimizer.build(variables)


def plain_model(model: keras.Model) -> keras.Model:
    """The same layers and weights as a plain functional model, for export."""
    return keras.Model(model.inputs, model.outputs, name=model.name)


def build_model(
    config: TrainingConfig, num_classes: int, steps_per_epoch: int | None = None
) -> keras.Model:
    """Backbone (cut at `config.feature_layer`) + the head (_head: standardization, dropout, a
    regularized softmax layer), compiled for sparse labels.

    A pretrained backbone starts frozen (phase 1 trains the head; see fine_tuning.py for phase 2);
    a randomly initialised one trains with the head, since frozen random features would be
    useless. A frozen BatchNorm layer runs in inference mode on its stored statistics (Keras
    does so for any BatchNormalization with trainable False), one that trains follows each
    batch's: which is which is decided by `trainable` alone, so fine-tuning can open them.
    """
    keras.utils.set_random_seed(config.seed)
    backbone = build_backbone(config)
    backbone.trainable = not is_pretrained(config)
    inputs = keras.Input(
        shape=(config.image_size, config.image_size, features.CHANNELS),
        name=features.TRANSFORMED_IMAGE_KEY,
    )
    model = TransferModel(
        inputs, _head(config, num_classes, backbone(inputs)), name=f"{config.backbone}_classifier"
    )
    return compile_model(model, config, config.learning_rate, config.epochs, steps_per_epoch)


def _head(config: TrainingConfig, num_classes: int, features_: tf.Tensor) -> tf.Tensor:
    """Standardization, dropout and a regularized softmax layer on the pooled features.

    The pooled activations of a backbone range over orders of magnitude from one feature to
    the next, and more so at shallow cuts: a head trained on them as they are was still
    improving after 300 epochs (digits, block_10: validation loss 0.78; standardized, 0.22
    in 98 epochs). The standardization is a frozen BatchNormalization, set to the fit part's
    statistics of the features (standardize_head) and left there: plain Keras in serving.
    From scratch nothing sets it: it stays the identity (mean 0, variance 1), and the
    backbone's own BatchNorm layers, which train, scale what reaches it.
    """
    x = keras.layers.BatchNormalization(
        epsilon=STANDARDIZATION_EPSILON,
        trainable=False,
        center=False,
        scale=False,
        name=HEAD_STANDARDIZATION,
    )(features_)
    x = keras.layers.Dropout(config.dropout, name=HEAD_DROPOUT)(x)
    return keras.layers.Dense(
        num_classes,
        activation="softmax",
        # Uniform answers to begin with (loss log K): on standardized features a random
        # kernel starts confidently wrong, and a head that overfits from there never sees
        # the uniform point on a small validation part (a softmax regression needs no
        # symmetry breaking).
        kernel_initializer="zeros",
        kernel_regularizer=head_regularizer(config),
        dtype="float32",  # softmax in full precision, also under mixed precision
        name=HEAD_SOFTMAX,
    )(x)


def new_head(config: TrainingConfig, num_classes: int, feature_size: int) -> keras.Model:
    """A head like build_model's, alone, on `feature_size` features: to measure a depth."""
    keras.utils.set_random_seed(config.seed)
    inputs = keras.Input(shape=(feature_size,), name="backbone_features")
    return keras.Model(inputs, _head(config, num_classes, inputs), name="head")


def head_model(model: keras.Model) -> keras.Model:
    """The head of a model made by build_model, alone: backbone features in, probabilities
    out. It shares the head's layers (and so its weights) with `model`."""
    backbone = backbone_of(model)
    inputs = keras.Input(shape=backbone.output_shape[1:], name="backbone_features")
    x = inputs
    for name in (HEAD_STANDARDIZATION, HEAD_DROPOUT, HEAD_SOFTMAX):
        x = model.get_layer(name)(x)
    return keras.Model(inputs, x, name="head")


def standardize_head(model: keras.Model, features_: np.ndarray) -> None:
    """Sets the head's standardization (in a model from build_model, head_model or new_head)
    to the mean and variance of `features_`, [examples, features] of the fit part."""
    statistics = [features_.mean(axis=0), features_.var(axis=0)]
    model.get_layer(HEAD_STANDARDIZATION).set_weights(statistics)


def head_regularizer(config: TrainingConfig) -> keras.regularizers.Regularizer | None:
    """L1 and/or L2 on the head's kernel; L2 only in the "l2" weight-decay mode."""
    l2 = config.weight_decay if config.weight_decay_mode == "l2" else 0.0
    if not (config.l1 or l2):
        return None
    return keras.regularizers.L1L2(l1=config.l1, l2=l2)


def classification_loss(label_smoothing: float = 0.0):
    """Cross-entropy on integer labels, with optional label smoothing.

    Keras's sparse cross-entropy cannot smooth, so with smoothing on the labels are one-hot
    encoded first; per-example losses are returned, so sample weights still apply.
    """
    if not label_smoothing:
        return keras.losses.SparseCategoricalCrossentropy()

    def smoothed_crossentropy(y_true, y_pred):
        labels = tf.cast(tf.reshape(y_true, [-1]), tf.int32)
        one_hot = tf.one_hot(labels, depth=tf.shape(y_pred)[-1], dtype=y_pred.dtype)
        return keras.losses.categorical_crossentropy(
            one_hot, y_pred, label_smoothing=label_smoothing
        )

    return smoothed_crossentropy


def make_optimizer(
    config: TrainingConfig, learning_rate: float, epochs: int, steps_per_epoch: int | None
) -> keras.optimizers.Optimizer:
    """Adam, or AdamW in the "decoupled" weight-decay mode; the "cosine" schedule decays over
    `epochs` of `steps_per_epoch` (the rate stays constant if the step count is unknown)."""
    rate = learning_rate
    if config.lr_schedule == "cosine" and steps_per_epoch:
        rate = keras.optimizers.schedules.CosineDecay(learning_rate, epochs * steps_per_epoch)
    if config.weight_decay_mode == "decoupled" and config.weight_decay:
        return keras.optimizers.AdamW(rate, weight_decay=config.weight_decay)
    return keras.optimizers.Adam(rate)


def compile_model(
    model: keras.Model,
    config: TrainingConfig,
    learning_rate: float,
    epochs: int,
    steps_per_epoch: int | None = None,
    backbone_learning_rate: float | None = None,
) -> keras.Model:
    """(Re)compiles for sparse labels; needed again after changing what is trainable.

    With `backbone_learning_rate` (a TransferModel in fine-tuning), the backbone gets an
    optimizer of its own at that rate: differential learning rates.
    """
    model.compile(
        optimizer=make_optimizer(config, learning_rate, epochs, steps_per_epoch),
        loss=classification_loss(config.label_smoothing),
        metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
    )
    if backbone_learning_rate is not None:
        model.backbone_optimizer = make_optimizer(
            config, backbone_learning_rate, epochs, steps_per_epoch
        )
    return model


def backbone_of(model: keras.Model) -> keras.Model:
    """The backbone inside a model made by build_model: its one nested model."""
    nested = [layer for layer in model.layers if isinstance(layer, keras.Model)]
    if len(nested) != 1:
        raise ValueError(f"{model.name} holds {len(nested)} nested models, expected one backbone")
    return nested[0]
