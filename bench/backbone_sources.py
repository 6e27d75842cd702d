"""`make backbone-sources`: which generated source task gives the offline backbone features
that transfer to real images?

No ImageNet weights can be downloaded here, so `make pretrain` learns its backbone on a
generated source task. This study pretrains the same backbone on each candidate source, with
`make pretrain`'s model, optimizer, epochs, batch and image budget (6,400 images), in plain
Keras on images in memory so that only the source differs:

- `shapes`: `make pretrain`'s own source, 8 shapes (none a demo class), 800 images each;
- `fractals`: 64 fractal categories of 100 images (bench/fractals.py; FractalDB's idea);
- `shapes_and_fractals`: 400 images of each shape and 32 fractal categories of 100;
- `random`: no pretraining at all, the control.

Then it scores each backbone's frozen features on `make quality`'s four data sets (the demo,
and three of real pictures nobody here made): logistic regression, 5-fold cross-validated on
every image of the set, at each depth the Trainer's `auto` measures; the best depth counts.
Cross-validating over every image rather than one eval split halves the noise of a single
split, which matters here: the question is whether a source beats another beyond it.

Writes bench/backbone_sources.json and docs/backbone_sources.md. Pretrained weights are kept
under `--work` (default data/backbone_sources) and reused on the next run.

    python -m bench.backbone_sources [--sources shapes,fractals] [--work DIR]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sys
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from bench import common, fractals, quality, quality_data
from pipeline import demo_data


@dataclass(frozen=True)
class Source:
    """Images per shape (of demo_data.SOURCE_CLASSES), fractal categories and images of each."""

    what: str
    shapes_per_class: int = 0
    fractal_classes: int = 0
    fractal_per_class: int = 0

    @property
    def pretrained(self) -> bool:
        """False for the control: no source images, random weights."""
        return bool(self.shapes_per_class or self.fractal_classes)


SOURCES = {
    "shapes": Source("`make pretrain`'s 8 generated shapes, 800 images each", 800),
    "fractals": Source("64 fractal categories, 100 images each", 0, 64, 100),
    "shapes_and_fractals": Source(
        "the 8 shapes, 400 images each, and 32 fractal categories of 100", 400, 32, 100
    ),
    "random": Source("no pretraining: random initialisation, the control"),
}
SEED = 7  # make pretrain's
HELD_OUT_SHARE = 0.1  # of source images, for an honest source accuracy
FOLDS = 5
DEFAULT_WORK = "data/backbone_sources"


def shape_images(per_class: int, image_size: int) -> tuple[np.ndarray, np.ndarray]:
    """`per_class` images of each source shape, resized as Transform does; (images, labels)."""
    import tensorflow as tf

    images, labels = [], []
    for class_index, shape in enumerate(demo_data.SOURCE_CLASSES):
        for n in range(per_class):
            drawn = np.asarray(
                demo_data.draw_example(shape, np.random.default_rng([SEED, class_index, n]))
            )
            resized = tf.image.resize(drawn, [image_size, image_size], antialias=True).numpy()
            images.append(resized.round().clip(0, 255).astype(np.uint8))
            labels.append(class_index)
    return np.stack(images), np.array(labels)


def _fractal_class(job: tuple[int, int, int]) -> list[np.ndarray]:
    class_index, per_class, image_size = job
    category = fractals.sample_category(np.random.default_rng([SEED, 1000 + class_index]))
    return [
        fractals.render(*category, np.random.default_rng([SEED, class_index, n]), size=image_size)
        for n in range(per_class)
    ]


def fractal_images(classes: int, per_class: int, image_size: int) -> tuple[np.ndarray, np.ndarray]:
    """`per_class` images of each of `classes` fractal categories, drawn on every core."""
    with multiprocessing.Pool(os.cpu_count()) as pool:
        drawn = pool.map(_fractal_class, [(c, per_class, image_size) for c in range(classes)])
    return np.stack([image for category in drawn for image in category]), np.repeat(
        np.arange(classes), per_class
    )


def source_images(source: Source, image_size: int) -> tuple[np.ndarray, np.ndarray]:
    """A source's images and labels: shapes first, fractal categories numbered after them."""
    parts = []
    if source.shapes_per_class:
        parts.append(shape_images(source.shapes_per_class, image_size))
    if source.fractal_classes:
        images, labels = fractal_images(
            source.fractal_classes, source.fractal_per_class, image_size
        )
        offset = len(demo_data.SOURCE_CLASSES) if source.shapes_per_class else 0
        parts.append((images, labels + offset))
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def pretrain(source: Source, weights_path: str, epochs: int) -> dict[str, Any]:
    """Trains `make pretrain`'s classifier on the source's images; saves the backbone's weights
    at `weights_path`, returns how it went."""
    import tensorflow as tf

    from components.common import tracing
    from components.trainer import source_task
    from components.trainer.training_config import PretrainConfig
    from components.transform.preprocessing import channel_stats

    config = PretrainConfig(epochs=epochs)
    started = time.monotonic()
    images, labels = source_images(source, config.image_size)
    generated = time.monotonic() - started
    print(f"  {len(images)} source images, {labels.max() + 1} classes, {generated:.0f} s")
    tracing.leave_libraries_unconverted()
    order = np.random.default_rng(0).permutation(len(images))
    held, train = np.split(order, [int(len(images) * HELD_OUT_SHARE)])
    pixels = images.astype(np.float32)
    mean, std = channel_stats(pixels[train])  # the training part's, as Transform computes
    pixels = (pixels - mean) / std
    model, backbone = source_task.build_pretraining_model(config, int(labels.max()) + 1)
    train_data = (
        tf.data.Dataset.from_tensor_slices((pixels[train], labels[train]))
        .shuffle(len(train), seed=SEED)
        .batch(config.batch_size)
        .prefetch(2)
    )
    held_out = tf.data.Dataset.from_tensor_slices((pixels[held], labels[held])).batch(64)
    trained = time.monotonic()
    history = model.fit(train_data, validation_data=held_out, epochs=epochs, verbose=2)
    os.makedirs(os.path.dirname(os.path.abspath(weights_path)), exist_ok=True)
    backbone.save_weights(weights_path)
    return {
        "images": len(images),
        "classes": int(labels.max()) + 1,
        "epochs": epochs,
        "generate_seconds": round(generated, 1),
        "train_seconds": round(time.monotonic() - trained, 1),
        "source_train_accuracy": round(float(history.history["accuracy"][-1]), 4),
        "source_heldout_accuracy": round(float(history.history["val_accuracy"][-1]), 4),
    }


def backbone_weights(name: str, work: str, epochs: int) -> tuple[str, dict[str, Any], bool]:
    """(weights for TrainingConfig.weights, how they were made, whether an earlier run made
    them): pretrained once per source and kept under `work`, with a record beside them."""
    if not SOURCES[name].pretrained:
        return "none", {}, False
    path = os.path.join(work, f"{name}.weights.h5")
    record_path = path + ".json"
    if os.path.exists(record_path):
        with open(record_path) as f:
            record = json.load(f)
        if record.get("epochs") == epochs:
            print(f"  reusing {path}")
            return path, record, True
    record = pretrain(SOURCES[name], path, epochs)
    with open(record_path, "w") as f:
        json.dump(record, f, indent=2)
    return path, record, False


def load_images(name: str, image_size: int) -> tuple[np.ndarray, np.ndarray]:
    """A `make quality` data set in memory: decoded and resized by the pipeline's own decoder,
    standardized per channel; files that do not decode are skipped, as ingestion skips them."""
    from bench import ablation
    from components.example_gen.ingest import why_undecodable
    from components.transform.preprocessing import channel_stats

    encoded, labels, classes = [], [], {}
    for class_name, _, data in quality_data.DATASETS[name][1]():
        if why_undecodable(data) is not None:
            continue
        encoded.append(data)
        labels.append(classes.setdefault(class_name, len(classes)))
    pixels = ablation.decode_images(encoded, image_size)
    mean, std = channel_stats(pixels)
    return (pixels - mean) / std, np.array(labels)


def probe(weights: str, data: dict[str, tuple[np.ndarray, np.ndarray]]) -> dict[str, dict]:
    """Per data set, the cross-validated accuracy of a linear probe at each candidate depth."""
    import tf_keras as keras
    from sklearn.model_selection import StratifiedKFold, cross_val_score

    from components.trainer import model as model_lib
    from components.trainer.training_config import TrainingConfig

    keras.utils.set_random_seed(SEED)  # the random control's weights: one draw, repeatable
    config = TrainingConfig(weights=weights)
    depths = model_lib.feature_layer_candidates(config.backbone)
    extractor = model_lib.features_at(model_lib.full_backbone(config), depths)
    scores = {}
    for name, (images, labels) in data.items():
        folds = StratifiedKFold(FOLDS, shuffle=True, random_state=0)
        per_depth = [
            float(cross_val_score(quality._logistic(), features, labels, cv=folds).mean())
            for features in extractor.predict(images, batch_size=64, verbose=0)
        ]
        scores[name] = dict(zip(depths, (round(s, 4) for s in per_depth), strict=True))
        print(f"  {name}: best {max(per_depth):.3f} at {depths[int(np.argmax(per_depth))]}")
    return scores


def markdown(saved: dict[str, Any]) -> str:
    facts, rows, images = saved["facts"], saved["sources"], saved["images"]
    datasets = list(images)
    best = {d: max(rows, key=lambda r: max(r["probe"][d].values())) for d in datasets}
    lines = [
        "# Which generated source makes the offline backbone transfer?",
        "",
        f"Made by `{facts['command']}` on {facts['machine']} ({facts['date']}, "
        f"{facts['minutes']:.0f} minutes). Each backbone is MobileNetV2 (alpha 0.35, 96 px) "
        f"pretrained on one source for {facts['epochs']} epochs the way `make pretrain` trains "
        "it; each cell is a linear probe of its frozen features: logistic regression, "
        f"{FOLDS}-fold cross-validated over every image of the data set, at the best of the "
        "depths the Trainer measures (which depth in brackets). Noise: one standard error of "
        "the difference of two accuracies on that many images; a gap is called real beyond "
        "twice that.",
        "",
        "| source | what | source held-out accuracy | pretraining s | "
        + " | ".join(f"{d} ({images[d]} images)" for d in datasets)
        + " |",
        "|---|---|---:|---:|" + "---|" * len(datasets),
    ]
    for row in rows:
        record = row["record"]
        cells = []
        for d in datasets:
            depth, score = max(row["probe"][d].items(), key=lambda item: item[1])
            text = f"{score:.3f} ({depth.removesuffix('_expand_relu')})"
            cells.append(f"**{text}**" if best[d] is row else text)
        held = record.get("source_heldout_accuracy")
        seconds = record.get("train_seconds", 0) + record.get("generate_seconds", 0)
        lines.append(
            f"| {row['source']} | {SOURCES[row['source']].what} | "
            f"{'' if held is None else f'{held:.3f}'} | {f'{seconds:.0f}' if seconds else ''} | "
            + " | ".join(cells)
            + " |"
        )
    reused = [row["source"] for row in rows if row.get("reused")]
    if reused:
        lines += [
            "",
            f"Weights of {', '.join(reused)} were pretrained by an earlier run and reused (kept "
            "under `--work`); the minutes above leave their pretraining out, the table gives it.",
        ]
    lines += ["", "Best source per data set against `make pretrain`'s shapes:", ""]
    shapes = next((r for r in rows if r["source"] == "shapes"), None)
    for d in datasets:
        top = max(best[d]["probe"][d].values())
        if shapes is None or best[d] is shapes:
            lines.append(f"- {d}: {best[d]['source']} ({top:.3f})")
            continue
        base = max(shapes["probe"][d].values())
        noise = quality.difference_noise(top, base, images[d])
        verdict = "real" if top - base > 2 * noise else "within the noise"
        lines.append(
            f"- {d}: {best[d]['source']} {top:.3f} against shapes {base:.3f}, "
            f"{top - base:+.3f} (noise {noise:.3f}: {verdict})"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    from components.common import tracing
    from components.trainer.training_config import PretrainConfig

    parser = argparse.ArgumentParser(
        prog="python -m bench.backbone_sources", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--sources", default=",".join(SOURCES))
    parser.add_argument("--datasets", default=",".join(quality_data.DATASETS))
    parser.add_argument("--epochs", type=int, default=PretrainConfig().epochs)
    parser.add_argument("--work", default=DEFAULT_WORK, help="where pretrained weights are kept")
    parser.add_argument("--results", default="bench/backbone_sources.json")
    parser.add_argument("--docs", default="docs")
    args = parser.parse_args(argv)
    sources = quality._names(args.sources, SOURCES, "source(s)")
    datasets = quality._names(args.datasets, quality_data.DATASETS, "data set(s)")
    started = time.monotonic()
    tracing.leave_libraries_unconverted()
    image_size = PretrainConfig().image_size
    data = {name: load_images(name, image_size) for name in datasets}
    rows = []
    for name in sources:
        print(f"{name}: {SOURCES[name].what}", flush=True)
        weights, record, reused = backbone_weights(name, os.path.abspath(args.work), args.epochs)
        rows.append(
            {"source": name, "record": record, "reused": reused, "probe": probe(weights, data)}
        )
    saved = {
        "facts": {
            "command": common.command("backbone-sources"),
            "machine": common.machine(),
            "date": time.strftime("%Y-%m-%d"),
            "minutes": (time.monotonic() - started) / 60,
            "epochs": args.epochs,
        },
        "images": {name: len(labels) for name, (_, labels) in data.items()},
        "sources": rows,
    }
    os.makedirs(os.path.dirname(os.path.abspath(args.results)), exist_ok=True)
    with open(args.results, "w") as f:
        json.dump(saved, f, indent=2)
    report = markdown(saved)
    os.makedirs(args.docs, exist_ok=True)
    with open(os.path.join(args.docs, "backbone_sources.md"), "w") as f:
        f.write(report)
    print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
