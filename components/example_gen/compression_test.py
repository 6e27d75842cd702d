"""Which compression tf.data reads example files with: told by their names."""

import pytest

from components.example_gen import record_compression

pytestmark = pytest.mark.unit


def test_gzipped_files_are_read_as_gzip_and_plain_ones_as_plain():
    assert record_compression(["a/data_tfrecord-00000-of-00002.gz", "a/b.gz"]) == "GZIP"
    assert record_compression(["a/data_tfrecord-00000-of-00002"]) == ""


def test_a_mix_is_refused_naming_the_files():
    with pytest.raises(ValueError, match=r"mix gzipped .*'a/one', 'a/two.gz'"):
        record_compression(["a/two.gz", "a/one"])
