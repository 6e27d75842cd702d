"""ImageExampleGen is FileBasedExampleGen with our executor, options and hash split."""

import pytest
from google.protobuf import json_format
from tfx.proto import example_gen_pb2

from components import features
from components.example_gen import executor
from components.example_gen.component import ImageExampleGen

pytestmark = pytest.mark.component


def test_carries_the_folder_split_and_options_to_the_executor():
    component = ImageExampleGen(
        data_root="/data/flowers", eval_percent=25, max_bad_file_fraction=0.05, max_megapixels=12
    )

    assert component.id == "ImageExampleGen"
    assert component.executor_spec.executor_class is executor.Executor
    props = component.exec_properties
    assert props["input_base"] == "/data/flowers"
    assert executor.unpack_custom_config(props) == {
        executor.INPUT_FORMAT_KEY: "images",
        executor.MAX_BAD_FILE_FRACTION_KEY: 0.05,
        executor.MAX_MEGAPIXELS_KEY: 12,
    }
    output = example_gen_pb2.Output()

    json_format.Parse(props["output_config"], output)
    splits = {s.name: s.hash_buckets for s in output.split_config.splits}
    assert splits == {"train": 75, "eval": 25}
    assert output.split_config.partition_feature_name == features.FILENAME_KEY


@pytest.mark.parametrize(("fmt", "pattern"), [("images", "*/*"), ("tfrecord", "*.tfrecord*")])
def test_input_pattern_follows_the_format(fmt, pattern):
    component = ImageExampleGen(data_root="/data", input_format=fmt)
    input_config = example_gen_pb2.Input()

    json_format.Parse(component.exec_properties["input_config"], input_config)
    assert [s.pattern for s in input_config.splits] == [pattern]


def test_bad_options_fail_at_construction():
    with pytest.raises(ValueError, match="input_format"):
        ImageExampleGen(data_root="/data", input_format="csv")
    with pytest.raises(ValueError, match="eval_percent"):
        ImageExampleGen(data_root="/data", eval_percent=100)
