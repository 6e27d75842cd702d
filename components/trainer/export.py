"""Export: the trained Keras model wrapped with the transform graph and the class names.

One signature, `serving_default(image_bytes: string[None])` -> probabilities, class_id,
class_name: raw encoded images in, no preprocessing on the caller's side, the tf.Transform graph
the model was trained behind inside. Clients call it, and so does the Evaluator (TFMA feeds it
the `image_bytes` feature of the eval examples), so the gate judges exactly what is served.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import tensorflow as tf
import tensorflow_transform as tft
import tf_keras as keras

from components import features
from components.example_gen.class_names import write_class_names
from components.trainer import serving_requests

# A SavedModel's folder for files that are not the model: the class names, and TF Serving's
# warmup requests (the folder TF Serving reads them from).
ASSETS_EXTRA_DIR = "assets.extra"


class DivergedModelError(RuntimeError):
    """The trained model holds NaN or infinite weights: it must never be exported or pushed."""


def refuse_non_finite(model: keras.Model) -> None:
    """Raises naming the first weight that is NaN or infinite: a diverged training's model
    predicts one class for everything (all-NaN probabilities argmax to 0), which a first run's
    floor could even bless."""
    for weight in model.weights:
        if not bool(tf.reduce_all(tf.math.is_finite(weight))):
            raise DivergedModelError(
                f"Training diverged: {weight.name} holds NaN or infinite values, so no model is "
                "exported. Lower LEARNING_RATE (or FINE_TUNE_LR), or look for broken images."
            )


def _serving_functions(model: keras.Model, tft_output: tft.TFTransformOutput, class_names):
    model.tft_layer = tft_output.transform_features_layer()  # tracked, so saved with the model
    names = tf.constant(list(class_names))

    @tf.function(
        input_signature=[tf.TensorSpec([None], tf.string, name=features.IMAGE_KEY)],
        autograph=False,  # nothing here branches on tensors: AutoGraph would only cost time
    )
    def serve_image_bytes(image_bytes):
        raw_features = {features.IMAGE_KEY: tf.reshape(image_bytes, [-1, 1])}
        transformed = model.tft_layer(raw_features)
        probabilities = model(transformed[features.TRANSFORMED_IMAGE_KEY], training=False)
        class_id = tf.argmax(probabilities, axis=-1, output_type=tf.int64)
        return {
            features.PROBABILITIES_KEY: probabilities,
            features.CLASS_ID_KEY: class_id,
            features.CLASS_NAME_KEY: tf.gather(names, class_id),
        }

    return {features.SERVING_SIGNATURE: serve_image_bytes}


def export_serving_model(
    model: keras.Model,
    tft_output: tft.TFTransformOutput,
    class_names,
    export_dir: str,
    warmup_images: Sequence[bytes] = (),
) -> None:
    """Saves a SavedModel that serves raw image bytes; class names also go to assets.extra,
    with TF Serving's warmup requests on `warmup_images` (serving_requests.py). A model with
    a NaN or infinite weight is refused before anything is written."""
    refuse_non_finite(model)
    signatures = _serving_functions(model, tft_output, class_names)
    # Without Keras's per-layer traces: tracing every layer's call costs seconds (3.7 s for a
    # 64 px MobileNetV2, make bench's plain script), and nothing loads this folder back as
    # Keras. Clients and TFMA call the signature above; WEIGHTS= reads its variables
    # (weights_file.py).
    model.save(export_dir, save_format="tf", signatures=signatures, save_traces=False)
    extra = os.path.join(export_dir, ASSETS_EXTRA_DIR)
    tf.io.gfile.makedirs(extra)
    write_class_names(extra, list(class_names))
    serving_requests.write_warmup_requests(extra, warmup_images)
