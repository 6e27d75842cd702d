"""`make pretrain`: a backbone pretrained on a large generated source task, offline.

The seeds' recipe: pre-train on a large, related problem, then fine-tune on the small one. No
ImageNet weights can be downloaded here, so the source problem is generated: eight shape classes
(none of them the demo's four) drawn by the same nuisance generator as the demo data, several
times more images. What the backbone learns there (edges, corners, outlines against texture and
noise) is what the target task needs, which is the point of transfer.

Images go through the pipeline's own decode-and-resize, then a per-channel standardization with
the source data's statistics, as Transform does with the target's.

    python -m pipeline.pretrain [--out data/pretrained] [--backbone mobilenet_v2] [--force]

Built once: if the weights file exists, it returns at once (`--force` rebuilds).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import asdict, dataclass

import numpy as np
import tensorflow as tf
import tf_keras as keras

from components.model import build_backbone
from components.preprocessing import decode_and_resize
from components.training_config import TrainingConfig
from pipeline import demo_data

RECORD_SUFFIX = ".json"
# Keras' default (0.99) lets BatchNorm statistics lag far behind on a few hundred steps.
BATCH_NORM_MOMENTUM = 0.9


@dataclass(frozen=True)
class PretrainConfig:
    """The source task and how long to learn it. Defaults: ~4 minutes on 2 CPU cores."""

    backbone: str = "mobilenet_v2"
    backbone_alpha: float = 0.35
    image_size: int = 96
    per_class: int = 800
    epochs: int = 20
    batch_size: int = 64
    # Constant: from scratch, MobileNetV2 needs ~8 epochs before it takes off here, and a cosine
    # decay (tried) left it less trained (held-out source accuracy 0.53 against 0.70).
    learning_rate: float = 1e-3
    seed: int = 7

    def backbone_config(self) -> TrainingConfig:
        return TrainingConfig(
            image_size=self.image_size,
            backbone=self.backbone,
            backbone_alpha=self.backbone_alpha,
            weights="none",
            seed=self.seed,
        )


def weights_filename(backbone: str, backbone_alpha: float) -> str:
    """One file per architecture: MobileNetV2's width changes its weights' shapes."""
    suffix = f"-alpha{backbone_alpha:g}" if backbone == "mobilenet_v2" else ""
    return f"{backbone}{suffix}.weights.h5"


def decode_images(encoded: list[bytes], image_size: int) -> np.ndarray:
    """Encoded images -> float32 [n, s, s, 3], through the pipeline's own decode-and-resize."""
    batches = [
        decode_and_resize(tf.constant(encoded[i : i + 256]), image_size).numpy()
        for i in range(0, len(encoded), 256)
    ]
    return np.concatenate(batches)


def source_images(config: PretrainConfig) -> tuple[np.ndarray, np.ndarray]:
    """(standardized float32 images [n, s, s, 3], labels [n]) of the generated source task."""
    encoded, labels = [], []
    for label, shape in enumerate(demo_data.SOURCE_CLASSES):
        for n in range(config.per_class):
            encoded.append(demo_data.render(shape, label, n, config.seed)[1])
            labels.append(label)
    images = decode_images(encoded, config.image_size)
    mean = images.mean(axis=(0, 1, 2))
    std = np.maximum(images.std(axis=(0, 1, 2)), 1e-3)
    return ((images - mean) / std).astype(np.float32), np.array(labels, dtype=np.int64)


def build_pretraining_model(config: PretrainConfig) -> tuple[keras.Model, keras.Model]:
    """(classifier for the source task, the backbone inside it), compiled."""
    keras.utils.set_random_seed(config.seed)
    backbone = build_backbone(config.backbone_config())
    for layer in backbone.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = BATCH_NORM_MOMENTUM
    inputs = keras.Input((config.image_size, config.image_size, 3))
    outputs = keras.layers.Dense(len(demo_data.SOURCE_CLASSES), activation="softmax")(
        backbone(inputs)
    )
    model = keras.Model(inputs, outputs, name="pretraining")
    model.compile(
        optimizer=keras.optimizers.Adam(config.learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model, backbone


def pretrain(config: PretrainConfig, weights_path: str, verbose: int = 2) -> dict:
    """Trains on the source task, saves the backbone's weights; returns the record it writes.

    Written aside then renamed: an interrupted run leaves no weights file that looks finished.
    """
    started = time.monotonic()
    images, labels = source_images(config)
    held_out = np.arange(len(labels)) % 10 == 0  # 10% to report honest source accuracy
    model, backbone = build_pretraining_model(config)
    history = model.fit(
        images[~held_out],
        labels[~held_out],
        validation_data=(images[held_out], labels[held_out]),
        epochs=config.epochs,
        batch_size=config.batch_size,
        shuffle=True,
        verbose=verbose,
    )
    # Same suffix as the final name: Keras picks the file format by it.
    folder, name = os.path.split(os.path.abspath(weights_path))
    partial = os.path.join(folder, f".partial-{name}")
    os.makedirs(folder, exist_ok=True)
    backbone.save_weights(partial)
    os.replace(partial, weights_path)
    record = {
        "weights": os.path.basename(weights_path),
        "config": asdict(config),
        "source_classes": list(demo_data.SOURCE_CLASSES),
        "images": int(len(labels)),
        "source_train_accuracy": round(float(history.history["accuracy"][-1]), 4),
        "source_heldout_accuracy": round(float(history.history["val_accuracy"][-1]), 4),
        "seconds": round(time.monotonic() - started, 1),
    }
    with open(weights_path + RECORD_SUFFIX, "w") as f:
        json.dump(record, f, indent=2)
    return record


DEFAULT_OUT = "data/pretrained"


def main(argv: list[str] | None = None) -> int:
    defaults = PretrainConfig()
    parser = argparse.ArgumentParser(
        prog="python -m pipeline.pretrain",
        description="Pretrain a backbone on generated source shapes (once; cached).",
    )
    environ = os.environ
    parser.add_argument("--out", default=environ.get("PRETRAINED_DIR", DEFAULT_OUT))
    parser.add_argument("--backbone", default=environ.get("BACKBONE", defaults.backbone))
    parser.add_argument(
        "--backbone-alpha",
        type=float,
        default=float(environ.get("BACKBONE_ALPHA", defaults.backbone_alpha)),
    )
    parser.add_argument("--image-size", type=int, default=defaults.image_size)
    parser.add_argument("--per-class", type=int, default=defaults.per_class)
    parser.add_argument("--epochs", type=int, default=defaults.epochs)
    parser.add_argument("--force", action="store_true", help="rebuild even if the file exists")
    args = parser.parse_args(argv)
    config = PretrainConfig(
        backbone=args.backbone,
        backbone_alpha=args.backbone_alpha,
        image_size=args.image_size,
        per_class=args.per_class,
        epochs=args.epochs,
    )
    path = os.path.join(args.out, weights_filename(config.backbone, config.backbone_alpha))
    if os.path.exists(path) and not args.force:
        print(f"Pretrained backbone up to date: {path}")
        return 0
    images = config.per_class * len(demo_data.SOURCE_CLASSES)
    print(
        f"Pretraining {config.backbone} on {images} generated images of "
        f"{len(demo_data.SOURCE_CLASSES)} source shapes ({config.epochs} epochs, once) ..."
    )
    record = pretrain(config, path)
    print(
        f"Wrote {path} in {record['seconds']:.0f} s "
        f"(held-out source accuracy {record['source_heldout_accuracy']:.3f})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
