"""Reading a folder of images into labelled tf.Examples, and saying exactly what was wrong.

Pure functions with no TFX or Beam in them, so the runner can check a folder before a pipeline
starts and the ExampleGen executor can use the same rules inside it.

The folder convention is `image_dataset_from_directory`'s: `root/<class name>/<image file>`.
Class ids are the sorted class folder names' positions. Nothing under `root` is ever written.
"""

from __future__ import annotations

import dataclasses
import os
import stat
from collections import Counter
from dataclasses import dataclass, field

import tensorflow as tf

from components import features
from components.common import progress
from components.example_gen import DEFAULT_MAX_BAD_FILE_FRACTION
from components.example_gen.class_names import TFRECORD_CLASS_NAMES_FILE
from components.transform import preprocessing


class DataError(ValueError):
    """The input data cannot be used; the message names the folder or files at fault."""


# (height, width, channels) of an image as stored: channels 1 for grayscale, 2 grayscale with
# alpha, 3 colour, 4 colour with alpha. Examples record it, so drift between runs shows.
ImageShape = tuple[int, int, int]


@dataclass(frozen=True)
class RejectedFile:
    """An image file that was skipped, and why."""

    path: str
    reason: str


@dataclass(frozen=True)
class ImageFolderScan:
    """What a scan of an image folder found: usable files with labels, and what it skipped."""

    root: str
    class_names: tuple[str, ...]
    files: tuple[tuple[str, int], ...]  # (path relative to root, label id)
    # (height, width, channels) of each file in `files`, as stored; recorded in its example.
    shapes: dict[str, ImageShape] = field(default_factory=dict)
    rejected: tuple[RejectedFile, ...] = ()
    ignored: tuple[str, ...] = ()  # files that are not images by their extension
    class_counts: dict[str, int] = field(default_factory=dict)

    def to_report(self) -> dict:
        """A JSON-able summary for the ingestion report and the run summary."""
        return {
            "root": self.root,
            "class_names": list(self.class_names),
            "class_counts": dict(self.class_counts),
            "images": len(self.files),
            "rejected": [{"path": r.path, "reason": r.reason} for r in self.rejected],
            "ignored": list(self.ignored),
            "warnings": [w for w in [imbalance_warning(self.class_counts)] if w],
        }


# A class this many times rarer than the largest gets a warning: accuracy can look fine while
# the rare class is never predicted.
IMBALANCE_RATIO = 10


def imbalance_warning(class_counts: dict[str, int]) -> str | None:
    """A warning naming the classes at least IMBALANCE_RATIO times rarer than the largest, with
    the counts; None for a tolerable balance."""
    if not class_counts:
        return None
    largest_name, largest = max(class_counts.items(), key=lambda item: item[1])
    rare = sorted(
        (count, name) for name, count in class_counts.items() if count * IMBALANCE_RATIO <= largest
    )
    if not rare:
        return None
    listed = ", ".join(f"{name} {count}" for count, name in rare)
    return (
        f"Imbalanced classes: {listed} images, against {largest} for {largest_name}. Accuracy "
        "can look good while a rare class is never predicted: gate on macro F1 "
        "(GATE_METRIC=macro_f1) and read the per-class table of the evaluation report."
    )


def is_hidden(name: str) -> bool:
    return name.startswith(".")


def has_image_extension(name: str) -> bool:
    return name.lower().endswith(features.IMAGE_EXTENSIONS)


def list_class_folders(root: str) -> tuple[list[str], list[str]]:
    """Returns (sorted class folder names, stray top-level files); checks the folder's shape."""
    if not tf.io.gfile.exists(root):
        raise DataError(f"Data folder {root!r} does not exist.")
    if not tf.io.gfile.isdir(root):
        raise DataError(
            f"Data path {root!r} is a file; expected a folder with one subfolder per class."
        )
    entries = sorted(e.rstrip("/") for e in tf.io.gfile.listdir(root) if not is_hidden(e))
    if not entries:
        raise DataError(f"Data folder {root!r} is empty.")
    classes = [e for e in entries if tf.io.gfile.isdir(os.path.join(root, e))]
    stray = [e for e in entries if e not in classes]
    if not classes:
        raise DataError(
            f"Data folder {root!r} has no class subfolders: put each class's images in "
            f"{root}/<class name>/ (found only files: {', '.join(stray[:5])})."
        )
    return classes, stray


def list_image_files(root: str) -> tuple[list[str], list[tuple[str, int]], list[str]]:
    """Lists (class names, [(relative path, label)], ignored relative paths) without decoding.

    Raises DataError for a folder that cannot make a classifier: missing, empty, no class
    folders, a class folder with no image files, or a single class.
    """
    class_names, stray = list_class_folders(root)
    files: list[tuple[str, int]] = []
    ignored = list(stray)
    empty_classes = []
    for label, name in enumerate(class_names):
        class_dir = os.path.join(root, name)
        names = sorted(n for n in tf.io.gfile.listdir(class_dir) if not is_hidden(n))
        images = [n for n in names if has_image_extension(n)]
        ignored += [f"{name}/{n}" for n in names if not has_image_extension(n)]
        if not images:
            empty_classes.append(name)
        files += [(f"{name}/{n}", label) for n in images]
    if empty_classes:
        raise DataError(
            f"Class folder(s) with no images in {root!r}: {', '.join(empty_classes)}. "
            f"Add images ({', '.join(features.IMAGE_EXTENSIONS)}) or remove the folder."
        )
    if len(class_names) < 2:
        raise DataError(
            f"Data folder {root!r} has one class ({class_names[0]!r}); a classifier needs at "
            "least two class subfolders."
        )
    return class_names, files, ignored


def why_oversized(image_bytes: bytes, max_megapixels: float) -> str | None:
    """Why an image is refused for its size, read from its header without decoding it (as
    Transform and serving refuse it); None within the cap. Raises tf.errors.OpError for a
    JPEG whose header is damaged."""
    height, width = preprocessing.header_image_size(image_bytes)
    if height * width > preprocessing.max_pixels(max_megapixels):
        return preprocessing.oversized_reason(width, height, max_megapixels)
    return None


def inspect_image(
    image_bytes: bytes, max_megapixels: float = features.DEFAULT_MAX_MEGAPIXELS
) -> tuple[ImageShape | None, str | None]:
    """(its shape as stored, None) if the bytes decode, else (None, a short reason).

    Decodes once, natively (channels as stored). TensorFlow's decoders turn any image they
    decode into RGB when asked, so what passes here decodes in Transform and in serving too
    (bad_files_test.py proves it on the awkward formats). An image of more than
    `max_megapixels` is refused from its header, before decoding, as Transform refuses it.
    """
    if not image_bytes:
        return None, "empty file"
    try:
        too_large = why_oversized(image_bytes, max_megapixels)
        if too_large:
            return None, too_large
        image = tf.io.decode_image(image_bytes, expand_animations=False)
    except (tf.errors.InvalidArgumentError, tf.errors.UnknownError, ValueError) as e:
        message = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        return None, f"not a decodable image ({message[:120]})"
    height, width, channels = (int(d) for d in image.shape)
    if height == 0 or width == 0:
        return None, "image has zero width or height"
    return (height, width, channels), None


def why_undecodable(
    image_bytes: bytes, max_megapixels: float = features.DEFAULT_MAX_MEGAPIXELS
) -> str | None:
    """None if the bytes decode as Transform will decode them, else a short reason."""
    return inspect_image(image_bytes, max_megapixels)[1]


def read_image_file(path: str) -> tuple[bytes | None, str | None]:
    """(its bytes, None), or (None, why it cannot be read). A FIFO, socket or device under an
    image's name is refused unopened (reading a FIFO would wait forever for a writer), and a
    dangling link or an unreadable file is a reason, not a traceback."""
    local = "://" not in path  # object stores hold only regular objects
    if local:
        try:
            mode = os.stat(path).st_mode  # follows links: a dangling one fails here
        except OSError as e:
            return None, f"cannot be read ({e.strerror})"
        if not stat.S_ISREG(mode):
            return None, "not a regular file (a FIFO, socket or device)"
    try:
        # Python's open for a local file: opening a tf.io.gfile.GFile costs more per file than
        # reading a small image.
        with open(path, "rb") if local else tf.io.gfile.GFile(path, "rb") as f:
            return f.read(), None
    except (tf.errors.OpError, OSError) as e:
        message = getattr(e, "message", None) or getattr(e, "strerror", None) or str(e)
        return None, f"cannot be read ({message})"


def read_and_inspect(
    path: str, max_megapixels: float = features.DEFAULT_MAX_MEGAPIXELS
) -> tuple[bytes | None, ImageShape | None, str | None]:
    """(its bytes, its shape as stored, None) for a usable image file, else (bytes or None,
    None, why it cannot be used): read once, checked as Transform and serving will."""
    image_bytes, reason = read_image_file(path)
    if reason is not None:
        return None, None, reason
    shape, reason = inspect_image(image_bytes, max_megapixels)
    return image_bytes, shape, reason


def checked_example(
    root: str,
    relative_path: str,
    label: int,
    max_megapixels: float = features.DEFAULT_MAX_MEGAPIXELS,
) -> tf.train.Example | RejectedFile:
    """One image file as its labelled example (its shape recorded), or why it was skipped:
    ingestion's work per file, wherever Beam runs it."""
    image_bytes, shape, reason = read_and_inspect(os.path.join(root, relative_path), max_megapixels)
    if shape is None:
        return RejectedFile(relative_path, reason)
    return make_example(image_bytes, label, relative_path, shape)


def scan_image_folder(
    root: str,
    max_bad_file_fraction: float = DEFAULT_MAX_BAD_FILE_FRACTION,
    max_megapixels: float = features.DEFAULT_MAX_MEGAPIXELS,
    progress_every_seconds: float = progress.EVERY_SECONDS,
) -> ImageFolderScan:
    """Lists and decodes every image once, in this process; skips undecodable ones and those
    above `max_megapixels` (refused undecoded), failing past the threshold. Says how far it got
    every `progress_every_seconds`. ImageExampleGen does the same work file by file in Beam
    (read_images.py), with the same rules (`read_and_inspect`, `conclude_scan`)."""
    class_names, candidates, ignored = list_image_files(root)
    shapes: dict[str, ImageShape] = {}
    rejected: list[RejectedFile] = []
    checked = progress.Progress(
        "ingestion", len(candidates), "images checked", progress_every_seconds
    )
    for done, (relative_path, _) in enumerate(candidates, 1):
        _, shape, reason = read_and_inspect(os.path.join(root, relative_path), max_megapixels)
        if shape is None:
            rejected.append(RejectedFile(relative_path, reason))
        else:
            shapes[relative_path] = shape
        checked.update(done, f"{len(rejected)} unusable so far")
    scan = conclude_scan(root, class_names, candidates, ignored, rejected, max_bad_file_fraction)
    return dataclasses.replace(scan, shapes=shapes)


def conclude_scan(
    root: str,
    class_names: list[str],
    candidates: list[tuple[str, int]],
    ignored: list[str],
    rejected: list[RejectedFile],
    max_bad_file_fraction: float = DEFAULT_MAX_BAD_FILE_FRACTION,
) -> ImageFolderScan:
    """What a scan found, from the listed image files and those refused; DataError when more
    than `max_bad_file_fraction` of them were refused, or a class has none left."""
    if len(rejected) > max_bad_file_fraction * len(candidates):
        listed = "\n".join(f"  {r.path}: {r.reason}" for r in rejected[:20])
        more = f"\n  ... and {len(rejected) - 20} more" if len(rejected) > 20 else ""
        raise DataError(
            f"{len(rejected)} of {len(candidates)} image files in {root!r} cannot be used, "
            f"more than the allowed {max_bad_file_fraction:.1%}:\n{listed}{more}"
        )
    refused = {r.path for r in rejected}
    good = [(path, label) for path, label in candidates if path not in refused]
    counts = count_by_class(class_names, good)
    missing = [name for name in class_names if counts[name] == 0]
    if missing:
        raise DataError(f"No decodable images left for class(es): {', '.join(missing)}.")
    return ImageFolderScan(
        root=root,
        class_names=tuple(class_names),
        files=tuple(good),
        rejected=tuple(rejected),
        ignored=tuple(ignored),
        class_counts=counts,
    )


def count_by_class(class_names: list[str], files: list[tuple[str, int]]) -> dict[str, int]:
    """Images per class name, every class listed (0 for none), from (path, label) pairs."""
    counts = Counter(label for _, label in files)
    return {name: counts[label] for label, name in enumerate(class_names)}


def make_example(
    image_bytes: bytes, label: int, filename: str, shape: ImageShape | None = None
) -> tf.train.Example:
    """One labelled example: the encoded bytes as found on disk, the label id, the file name,
    and the image's shape as stored when known (the schema compares it with the last run's)."""
    feature = {
        features.IMAGE_KEY: tf.train.Feature(bytes_list=tf.train.BytesList(value=[image_bytes])),
        features.LABEL_KEY: _int_feature(label),
        features.FILENAME_KEY: tf.train.Feature(
            bytes_list=tf.train.BytesList(value=[filename.encode("utf-8")])
        ),
    }
    if shape is not None:
        feature.update(zip(features.IMAGE_SHAPE_KEYS, map(_int_feature, shape), strict=True))
    return tf.train.Example(features=tf.train.Features(feature=feature))


def _int_feature(value: int) -> tf.train.Feature:
    return tf.train.Feature(int64_list=tf.train.Int64List(value=[value]))


def _bytes_values(example: tf.train.Example, key: str) -> list[bytes]:
    feature = example.features.feature
    return list(feature[key].bytes_list.value) if key in feature else []


def _example_name(example: tf.train.Example) -> str:
    """'Example <filename>' for messages, or 'An example' when it has no file name."""
    names = _bytes_values(example, features.FILENAME_KEY)
    return f"Example {names[0].decode('utf-8', 'replace')!r}" if names else "An example"


def with_image_shape(
    example: tf.train.Example, max_megapixels: float = features.DEFAULT_MAX_MEGAPIXELS
) -> tf.train.Example:
    """A TFRecord example with its image's shape added (as make_example records it), unless it
    has one. An image that does not decode, or is above `max_megapixels`, raises DataError
    naming the example; an example with no image passes unchanged, for the schema check."""
    images = _bytes_values(example, features.IMAGE_KEY)
    if not images:
        return example
    if any(key in example.features.feature for key in features.IMAGE_SHAPE_KEYS):
        # Its shape was recorded already; its size is still checked, as Transform will.
        try:
            too_large = why_oversized(images[0], max_megapixels)
        except tf.errors.OpError as e:
            too_large = f"not a decodable image ({e.message[:120]})"
        if too_large:
            raise DataError(
                f"{_example_name(example)} has an image that cannot be used: {too_large}."
            )
        return example
    shape, reason = inspect_image(images[0], max_megapixels)
    if shape is None:
        raise DataError(f"{_example_name(example)} has an image that cannot be used: {reason}.")
    shaped = tf.train.Example()
    shaped.CopyFrom(example)  # Beam inputs are not to be modified
    for key, value in zip(features.IMAGE_SHAPE_KEYS, shape, strict=True):
        shaped.features.feature[key].CopyFrom(_int_feature(value))
    return shaped


def check_label(example: tf.train.Example, class_names: list[str]) -> tf.train.Example:
    """The example, if its label id is one `class_names` names. A label outside them (a class
    missing from class_names.txt) raises DataError naming the example; a missing label passes,
    for the schema check to report with the other anomalies."""
    feature = example.features.feature
    labels = feature[features.LABEL_KEY].int64_list.value if features.LABEL_KEY in feature else []
    for label in labels:
        if not 0 <= label < len(class_names):
            raise DataError(
                f"{_example_name(example)} has label {label}, but "
                f"{TFRECORD_CLASS_NAMES_FILE} names "
                f"{len(class_names)} classes (ids 0-{len(class_names) - 1}): name the missing "
                "class there, or fix the label."
            )
    return example


def read_tfrecord_class_names(root: str) -> list[str]:
    """Class names for a TFRecord folder: `class_names.txt`, one per line, line i = label i."""
    path = os.path.join(root, TFRECORD_CLASS_NAMES_FILE)
    if not tf.io.gfile.exists(path):
        raise DataError(
            f"TFRecord folder {root!r} has no {TFRECORD_CLASS_NAMES_FILE}: write one "
            "class name per line, line i naming label id i."
        )
    with tf.io.gfile.GFile(path) as f:
        names = [line.strip() for line in f if line.strip()]
    if len(names) < 2:
        raise DataError(f"{path} names {len(names)} class(es); a classifier needs at least two.")
    return names


def detect_input_format(root: str) -> str:
    """'tfrecord' if the folder holds TFRecord files at its top level, else 'images'."""
    names = tf.io.gfile.listdir(root) if tf.io.gfile.isdir(root) else []
    if any(features.TFRECORD_MARKER in n.lower() for n in names):
        return "tfrecord"
    return "images"
