"""Requests as TF Serving takes them: the REST body the docs build, decoded as TF Serving's
JSON API decodes it, is answered by the signature exactly as the bytes themselves are."""

import base64
import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from components import features
from components.trainer import serving_requests
from tests.helpers import encode_image, export_tiny_classifier

pytestmark = pytest.mark.unit

SERVING_DOC = Path(__file__).resolve().parents[2] / "docs" / "serving.md"


def documented_request_command() -> list[str]:
    """The docs' command that writes request.json, as argv (its image names dropped)."""
    (line,) = [
        line for line in SERVING_DOC.read_text().splitlines() if line.startswith("python3 -c ")
    ]
    argv = shlex.split(line.split(" > ")[0])
    return [sys.executable, *argv[1:3]]


def as_tf_serving_decodes(body: dict, input_names: set[str]) -> dict[str, list[bytes]]:
    """TF Serving's REST "row" format: each instance names every input; {"b64": ...} is bytes."""
    decoded: dict[str, list[bytes]] = {name: [] for name in input_names}
    for instance in body["instances"]:
        assert set(instance) == input_names
        for name, value in instance.items():
            assert set(value) == {"b64"}
            decoded[name].append(base64.b64decode(value["b64"], validate=True))
    return decoded


def test_the_documented_rest_body_is_answered_as_the_images_are(tmp_path):
    serve = tf.saved_model.load(export_tiny_classifier(tmp_path, ["a", "b", "c"])).signatures[
        features.SERVING_SIGNATURE
    ]
    images = [encode_image(size=(30, 20), seed=1), encode_image(fmt="JPEG", seed=2)]
    paths = []
    for i, image in enumerate(images):
        paths.append(tmp_path / f"image-{i}")
        paths[-1].write_bytes(image)

    printed = subprocess.run(
        [*documented_request_command(), *map(str, paths)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    body = json.loads(printed)

    assert body == serving_requests.rest_request(images)
    assert body["signature_name"] == features.SERVING_SIGNATURE
    input_names = set(serve.structured_input_signature[1])
    decoded = as_tf_serving_decodes(body, input_names)
    answer = serve(**{name: tf.constant(values) for name, values in decoded.items()})
    direct = serve(**{features.IMAGE_KEY: tf.constant(images)})
    np.testing.assert_array_equal(
        answer[features.PROBABILITIES_KEY].numpy(), direct[features.PROBABILITIES_KEY].numpy()
    )


def test_the_documented_url_names_the_model_the_kserve_manifest_and_docker_command_serve():
    text = SERVING_DOC.read_text()
    (name,) = set(re.findall(r"/v1/models/([\w-]+):predict", text))
    assert f"MODEL_NAME={name}" in text
    assert f"/models/{name}:ro" in text


def test_warmup_requests_are_one_image_then_a_batch_and_none_without_images(tmp_path):
    images = [encode_image(seed=i) for i in range(10)]
    serving_requests.write_warmup_requests(str(tmp_path / "some"), images)
    serving_requests.write_warmup_requests(str(tmp_path / "none"), [])

    requests = serving_requests.read_warmup_requests(str(tmp_path / "some"))

    sizes = [len(tf.make_ndarray(r.inputs[features.IMAGE_KEY])) for r in requests]
    assert sizes == [1, max(serving_requests.WARMUP_BATCH_SIZES)]
    assert not (tmp_path / "none").exists()
