"""Shared test set-up: the Keras TFX runs on, and small real image files to ingest."""

from pipeline.cli import prepare_environment

# TFX 1.16 and tf.Transform run on tf-keras: set before anything imports TensorFlow.
prepare_environment()

import pytest  # noqa: E402

from tests.helpers import encode_image  # noqa: E402


@pytest.fixture
def image_folder(tmp_path):
    """Two classes in every supported format and channel layout, plus a README to ignore.
    Named so that each class has an image in each split (cat/rgba.png and dog/bitmap.BMP are
    eval's), which a run requires."""
    root = tmp_path / "images"
    files = {
        "cat/rgb.png": encode_image("RGB", fmt="PNG", seed=1),
        "cat/gray.jpg": encode_image("L", fmt="JPEG", seed=2),
        "cat/rgba.png": encode_image("RGBA", fmt="PNG", seed=3),
        "dog/photo.JPEG": encode_image("RGB", fmt="JPEG", seed=4),
        "dog/bitmap.BMP": encode_image("RGB", fmt="BMP", seed=5),
        "dog/palette.gif": encode_image("P", fmt="GIF", seed=6),
        "dog/notes.txt": b"not an image, ignored by extension",
    }
    for relative, data in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


@pytest.fixture
def stock_autograph(monkeypatch):
    """AutoGraph's rules as TensorFlow ships them, converting tf_keras and tf.Transform
    (restored after the test): the state of a process that has not yet called
    components.common.tracing."""
    from components.common import tracing

    stock = tuple(
        rule
        for rule in tracing.autograph_config.CONVERSION_RULES
        if not any(rule.matches(package) for package in tracing.UNCONVERTED_PACKAGES)
    )
    monkeypatch.setattr(tracing.autograph_config, "CONVERSION_RULES", stock)
