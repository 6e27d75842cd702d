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


def _servable(
    model: keras.Model, tft_output: tft.TFTransformOutput, class_names
) -> tuple[tf.Module, dict]:
    """What the SavedModel holds, and its signatures: the model's variables and the transform
    graph, as a plain tf.Module.

    Not the Keras model itself: saved as Keras, a SavedModel also holds Keras's metadata and
    every layer's place in its object graph, 1 s of each export (64 px MobileNetV2, run_fn
    on 500 images, 4 runs each way) that nothing reads: clients and TFMA call the signature,
    WEIGHTS= reads the variables by their names (weights_file.py), which stay the same.
    """
    servable = tf.Module()
    servable.model_variables = list(model.variables)
    servable.tft_layer = tft_output.transform_features_layer()
    names = tf.constant(list(class_names))

    @tf.function(
        input_signature=[tf.TensorSpec([None], tf.string, name=features.IMAGE_KEY)],
        autograph=False,  # nothing here branches on tensors: AutoGraph would only cost time
    )
    def serve_image_bytes(image_bytes):
        raw_features = {features.IMAGE_KEY: tf.reshape(image_bytes, [-1, 1])}
        transformed = servable.tft_layer(raw_features)
        probabilities = model(transformed[features.TRANSFORMED_IMAGE_KEY], training=False)
        class_id = tf.argmax(probabilities, axis=-1, output_type=tf.int64)
        return {
            features.PROBABILITIES_KEY: probabilities,
            features.CLASS_ID_KEY: class_id,
            features.CLASS_NAME_KEY: tf.gather(names, class_id),
        }

    return servable, {features.SERVING_SIGNATURE: serve_image_bytes}


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
    servable, signatures = _servable(model, tft_output, class_names)
    tf.saved_model.save(servable, export_dir, signatures=signatures)
    extra = os.path.join(export_dir, ASSETS_EXTRA_DIR)
    tf.io.gfile.makedirs(extra)
    write_class_names(extra, list(class_names))
    serving_requests.write_warmup_requests(extra, warmup_images)
