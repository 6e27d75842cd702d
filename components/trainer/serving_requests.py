"""Requests to the exported model as TensorFlow Serving (and KServe, which runs it) takes them.

Warmup: TF Serving runs the PredictionLog records in a version's
`assets.extra/tf_serving_warmup_requests` when it loads the version, before it marks it
available, so the first client does not pay for the graph's first run (kernel set-up, memory
pools; seconds on a large model). The records are images from the eval split, made small
(thumbnails), at the batch sizes a client sends: one image, and several.

REST: TF Serving's JSON API takes bytes for a string input as `{"b64": "<base64>"}` under the
input's name; `rest_request` builds that body for the signature's `image_bytes`.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Sequence

import tensorflow as tf

from components import features
from components.example_gen import record_compression

# The file TF Serving looks for in a version's assets.extra folder (its fixed name).
WARMUP_FILE = "tf_serving_warmup_requests"
# Batch sizes of the warmup requests: a single image, and a small batch.
WARMUP_BATCH_SIZES = (1, 8)


def warmup_logs(images: Sequence[bytes]) -> list[bytes]:
    """Serialized PredictionLog records calling the serving signature on `images`, one per
    size in WARMUP_BATCH_SIZES (as many images as there are, up to that size)."""
    from tensorflow_serving.apis import model_pb2, predict_pb2, prediction_log_pb2

    records = []
    for size in sorted({min(size, len(images)) for size in WARMUP_BATCH_SIZES} - {0}):
        request = predict_pb2.PredictRequest(
            model_spec=model_pb2.ModelSpec(signature_name=features.SERVING_SIGNATURE)
        )
        request.inputs[features.IMAGE_KEY].CopyFrom(
            tf.make_tensor_proto(list(images[:size]), dtype=tf.string)
        )
        log = prediction_log_pb2.PredictionLog(
            predict_log=prediction_log_pb2.PredictLog(request=request)
        )
        records.append(log.SerializeToString())
    return records


def write_warmup_requests(assets_extra_dir: str, images: Sequence[bytes]) -> None:
    """TF Serving's warmup file in a model's assets.extra folder; nothing without images."""
    if not images:
        return
    tf.io.gfile.makedirs(assets_extra_dir)
    with tf.io.TFRecordWriter(os.path.join(assets_extra_dir, WARMUP_FILE)) as writer:
        for record in warmup_logs(images):
            writer.write(record)


def read_warmup_requests(assets_extra_dir: str) -> list:
    """The warmup file's PredictRequests, in order."""
    from tensorflow_serving.apis import prediction_log_pb2

    requests = []
    path = os.path.join(assets_extra_dir, WARMUP_FILE)
    for record in tf.data.TFRecordDataset(path).as_numpy_iterator():
        requests.append(prediction_log_pb2.PredictionLog.FromString(record).predict_log.request)
    return requests


def raw_images(files: Sequence[str], count: int) -> list[bytes]:
    """The first `count` encoded images of tf.Example files (ExampleGen's)."""
    spec = {features.IMAGE_KEY: tf.io.FixedLenFeature([], tf.string)}
    files = list(files)
    examples = tf.data.TFRecordDataset(files, compression_type=record_compression(files))
    examples = examples.take(count)
    return [
        tf.io.parse_single_example(serialized, spec)[features.IMAGE_KEY].numpy()
        for serialized in examples
    ]


def thumbnails(images: Sequence[bytes], size: int) -> list[bytes]:
    """Each image decoded as serving decodes it and re-encoded as a PNG at most `size` pixels
    on its longer side: warmup runs the same decode, resize and model, while an image at the
    pixel cap (a GB decoded) could keep a small server from loading the version at all."""
    from components.transform import preprocessing

    small = []
    for image in images:
        decoded = preprocessing.decode_image(tf.constant(image))
        resized = tf.image.resize(decoded, [size, size], preserve_aspect_ratio=True)
        small.append(tf.io.encode_png(tf.cast(tf.round(resized), tf.uint8)).numpy())
    return small


def rest_request(images: Sequence[bytes]) -> dict:
    """The JSON body of a REST predict request (TF Serving's `:predict`, KServe's v1 protocol)
    asking the serving signature about `images`."""
    return {
        "signature_name": features.SERVING_SIGNATURE,
        "instances": [
            {features.IMAGE_KEY: {"b64": base64.b64encode(image).decode("ascii")}}
            for image in images
        ],
    }
