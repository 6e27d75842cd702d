"""The code version a push record carries, from a checkout and from the pipeline image."""

import re

import pytest

from components.registry import provenance

pytestmark = pytest.mark.unit


def test_in_a_checkout_it_is_the_package_version_and_the_commit():
    assert re.fullmatch(r"\d+\.\d+\.\d+\+[0-9a-f]{12}(\.dirty)?", provenance.code_version())


def test_in_the_image_it_is_exactly_what_make_image_computed(tmp_path, monkeypatch):
    # The image has no .git folder and no installed project: only the CODE_VERSION it was built
    # with, which already holds the package version.
    monkeypatch.setattr(provenance, "_SOURCE_ROOT", str(tmp_path))
    monkeypatch.setenv(provenance.CODE_VERSION_ENV, "0.1.0+0123456789ab")

    assert provenance.code_version() == "0.1.0+0123456789ab"
