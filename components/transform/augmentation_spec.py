"""What augmentation training batches get: the spec, its checks, no TensorFlow.

The settings and the pipeline's config import this without loading TensorFlow; the layers
that apply the spec are in `augmentation`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import ClassVar

from components.common.custom_config import CustomConfig


class AugmentationSpecError(ValueError):
    """An augmentation spec is missing or has bad values; the message names which."""


@dataclass(frozen=True)
class AugmentationSpec(CustomConfig):
    """Which random augmentations training batches get, and how strong (0 turns one off)."""

    KIND: ClassVar[str] = "augmentation setting"
    ERROR: ClassVar[type[ValueError]] = AugmentationSpecError

    flip: bool = True  # horizontal
    rotation_degrees: float = 20.0
    shift: float = 0.2  # fraction of width and height
    zoom: float = 0.2
    noise_stddev: float = 0.05  # in normalized pixel units

    def __post_init__(self) -> None:
        checks = {
            "rotation_degrees": 0 <= self.rotation_degrees <= 180,
            "shift": 0 <= self.shift < 1,
            "zoom": 0 <= self.zoom < 1,
            "noise_stddev": self.noise_stddev >= 0,
        }
        self.refuse_invalid(checks)

    @classmethod
    def off(cls) -> AugmentationSpec:
        """Every transform off: each field at its type's zero (False, 0.0), so a new one is too."""
        return cls(**{field.name: type(field.default)() for field in dataclasses.fields(cls)})


# Groups of transforms the Trainer checks on each data set's validation part, each of which
# can change what an image shows: a flip (digits, text), and rotation, shift and zoom
# (a character rotated, or shifted out of its frame). Pixel noise is not checked.
CHECKS = {"flip": ("flip",), "geometry": ("rotation_degrees", "shift", "zoom")}


def checks(spec: AugmentationSpec) -> dict[str, AugmentationSpec]:
    """For each group of CHECKS, the spec with only that group's transforms on."""
    off = AugmentationSpec.off()
    return {
        name: dataclasses.replace(off, **{field: getattr(spec, field) for field in fields})
        for name, fields in CHECKS.items()
    }


def without(spec: AugmentationSpec, group: AugmentationSpec) -> AugmentationSpec:
    """`spec` with the transforms that are on in `group` turned off."""
    off = AugmentationSpec.off()
    return dataclasses.replace(
        spec,
        **{
            name: getattr(off, name)
            for name, value in group.to_dict().items()
            if value != getattr(off, name)
        },
    )
