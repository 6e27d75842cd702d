"""The augmentation spec: its checks by group, a spec without a group, and bad values named."""

import dataclasses

import pytest

from components.transform import augmentation_spec
from components.transform.augmentation_spec import AugmentationSpec, AugmentationSpecError

pytestmark = pytest.mark.unit


def test_off_turns_every_transform_off():
    off = AugmentationSpec.off()

    assert not any(getattr(off, field.name) for field in dataclasses.fields(off))


@pytest.mark.parametrize(
    ("values", "named"),
    [
        ({"zoom": 1.0}, "zoom=1.0"),
        ({"rotation_degrees": -1}, "rotation_degrees"),
        ({"hue": 1}, "hue"),
    ],
)
def test_bad_spec_values_are_refused_by_name(values, named):
    with pytest.raises(AugmentationSpecError, match=named):
        AugmentationSpec.from_dict(values)


def test_each_checked_group_alone_and_the_spec_without_it():
    spec = AugmentationSpec(flip=True, rotation_degrees=10.0, shift=0.1, zoom=0.0)
    groups = augmentation_spec.checks(spec)

    assert groups["flip"] == dataclasses.replace(AugmentationSpec.off(), flip=True)
    assert groups["geometry"] == dataclasses.replace(
        AugmentationSpec.off(), rotation_degrees=10.0, shift=0.1
    )
    assert augmentation_spec.without(spec, groups["flip"]) == dataclasses.replace(spec, flip=False)
    assert augmentation_spec.without(spec, groups["geometry"]) == AugmentationSpec(
        flip=True, rotation_degrees=0.0, shift=0.0, zoom=0.0
    )
