"""The one place that names the data: feature keys, the label, splits, image size, formats.

Every other module imports these; none repeats a literal. It imports nothing, so the settings
and the pipeline's config read it without loading TensorFlow. Class names are discovered from
the data once, by ExampleGen, which writes them beside the examples (`example_gen.class_names`).
"""

from __future__ import annotations

# Raw tf.Example features written by ExampleGen.
IMAGE_KEY = "image_bytes"
LABEL_KEY = "label"
FILENAME_KEY = "filename"
# The image's (height, width, channels) as stored, recorded by ingestion so that the schema's
# drift check sees a change of sizes or colour between runs. Not model inputs.
IMAGE_SHAPE_KEYS = ("image_height", "image_width", "image_channels")

# The splits ImageExampleGen writes: train for fitting, eval for early stopping and the gate.
TRAIN_SPLIT = "train"
EVAL_SPLIT = "eval"

# Features produced by Transform.
TRANSFORMED_IMAGE_KEY = "image"

DEFAULT_IMAGE_SIZE = 96
# Images above this many megapixels are refused before decoding (a 379 KB PNG can declare
# 20000x20000 pixels). 64 takes a 48 MP phone photo and a 600 dpi A4 scan (35 MP); decoding
# and resizing one costs about 15 bytes a pixel, 1 GB at the cap.
DEFAULT_MAX_MEGAPIXELS = 64.0
CHANNELS = 3

# Formats TensorFlow's decode_image reads; the same ones ingestion accepts.
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif")
TFRECORD_MARKER = ".tfrecord"  # TFRecord input files are named *.tfrecord* (.gz allowed)

# The exported model's one signature, for clients and the Evaluator alike.
SERVING_SIGNATURE = "serving_default"
PROBABILITIES_KEY = "probabilities"
CLASS_ID_KEY = "class_id"
CLASS_NAME_KEY = "class_name"
