"""Export refuses a diverged model before writing anything."""

import numpy as np
import pytest
import tf_keras as keras

from components.trainer import export

pytestmark = pytest.mark.unit


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
