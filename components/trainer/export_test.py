"""Export: what is served is exactly what training saw, and a diverged model is refused."""

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_transform as tft
import tf_keras as keras

from components import features
from components.trainer import export, weights_file
from tests.helpers import encode_image, png_bomb, transform_with_graph

pytestmark = pytest.mark.unit

SIZE = 8  # pixels: Transform's image size in these tests


def small_model() -> keras.Model:
    inputs = keras.Input((4,))
    return keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(inputs))


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_a_model_with_a_non_finite_weight_is_never_exported(tmp_path, bad):
    model = small_model()
    kernel, bias = model.layers[-1].get_weights()
    kernel[1, 0] = bad
    model.layers[-1].set_weights([kernel, bias])
    export_dir = tmp_path / "model"

    with pytest.raises(export.DivergedModelError, match="kernel.*NaN or infinite"):
        export.export_serving_model(model, None, ["a", "b"], str(export_dir))

    assert not export_dir.exists()


def test_a_finite_model_passes_the_check():
    export.refuse_non_finite(small_model())


def transform_graph(
    images: list[bytes], folder: str, max_megapixels: float = 64.0
) -> tuple[tft.TFTransformOutput, np.ndarray]:
    """Transform's graph analyzed on `images` by tf.Transform on Beam, and the images as
    Transform hands them to the Trainer."""
    graph_dir, transformed = transform_with_graph(
        images, [0] * len(images), folder, SIZE, max_megapixels
    )
    pixels = np.stack([row[features.TRANSFORMED_IMAGE_KEY] for row in transformed])
    return tft.TFTransformOutput(graph_dir), pixels


def test_serving_applies_exactly_the_preprocessing_training_saw(tmp_path):
    images = [
        encode_image(mode, size=(13, 9), fmt=fmt, seed=i)
        for i, (mode, fmt) in enumerate([("RGB", "PNG"), ("L", "JPEG"), ("RGBA", "PNG")])
    ]
    tft_output, trained_on = transform_graph(images, str(tmp_path))
    # A "model" that answers with the image it is given, so the signature's output is exactly
    # what the model received from the exported preprocessing.
    inputs = keras.Input((SIZE, SIZE, 3))
    echo = keras.Model(inputs, keras.layers.Flatten()(inputs))
    names = [f"value {i}" for i in range(SIZE * SIZE * 3)]

    export.export_serving_model(echo, tft_output, names, str(tmp_path / "model"))
    serve = tf.saved_model.load(str(tmp_path / "model")).signatures[features.SERVING_SIGNATURE]
    served = serve(**{features.IMAGE_KEY: tf.constant(images)})[features.PROBABILITIES_KEY]

    np.testing.assert_allclose(served.numpy(), trained_on.reshape(len(images), -1), atol=1e-6)


def test_serving_refuses_a_decompression_bomb_before_decoding_it(tmp_path):
    """A 353 KB PNG declaring 9000x9000 pixels: served, the model's answer is an error naming
    the size and the cap, raised from the header before the 81 megapixels are decoded; an
    ordinary image is answered by the same model."""
    tft_output, _ = transform_graph([encode_image(size=(13, 9))], str(tmp_path))
    inputs = keras.Input((SIZE, SIZE, 3))
    model = keras.Model(
        inputs, keras.layers.Dense(2, activation="softmax")(keras.layers.Flatten()(inputs))
    )
    export.export_serving_model(model, tft_output, ["cat", "dog"], str(tmp_path / "model"))
    serve = tf.saved_model.load(str(tmp_path / "model")).signatures[features.SERVING_SIGNATURE]

    with pytest.raises(
        tf.errors.InvalidArgumentError,
        match="Image of 9000x9000 pixels, above the cap of 64 megapixels: refused before decoding",
    ):
        serve(**{features.IMAGE_KEY: tf.constant([png_bomb(9000, 9000)])})

    answer = serve(**{features.IMAGE_KEY: tf.constant([encode_image(size=(13, 9))])})
    assert answer[features.PROBABILITIES_KEY].shape == (1, 2)


def test_weights_reads_an_exported_model_s_arrays_by_layer_name(tmp_path):
    """WEIGHTS= may name a model this pipeline exported: its variables keep their layers'
    names, which is how weights_file finds a backbone's layers in a SavedModel."""
    tft_output, _ = transform_graph([encode_image(size=(13, 9))], str(tmp_path))
    inputs = keras.Input((SIZE, SIZE, 3))
    hidden = keras.layers.Dense(3, name="hidden")(keras.layers.Flatten()(inputs))
    model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax", name="out")(hidden))

    export.export_serving_model(model, tft_output, ["cat", "dog"], str(tmp_path / "model"))
    file_format, arrays = weights_file.read_layer_arrays(str(tmp_path / "model"))

    assert file_format == "SavedModel"
    for layer in ("hidden", "out"):
        found = dict(arrays[layer])
        expected = dict(zip(["kernel", "bias"], model.get_layer(layer).get_weights(), strict=True))
        assert found.keys() == expected.keys()
        for name, value in expected.items():
            np.testing.assert_array_equal(found[name], value)
