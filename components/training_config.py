"""Training settings: one frozen object, carried to the Trainer as its custom_config dict."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from components import features


@dataclass(frozen=True)
class TrainingConfig:
    """What the Trainer needs to build, train and export the model. Defaults suit the demo."""

    image_size: int = features.DEFAULT_IMAGE_SIZE
    backbone: str = "mobilenet_v2"
    # MobileNetV2's width multiplier; 0.35 trains ~2.5x faster than 1.0 on CPU.
    backbone_alpha: float = 0.35
    # "none" (from scratch), "imagenet" (needs network), or a path to a weights file.
    weights: str = "none"
    epochs: int = 10
    batch_size: int = 32
    learning_rate: float = 1e-3
    dropout: float = 0.2
    weight_decay: float = 1e-4
    early_stopping_patience: int = 3
    seed: int = 42

    def __post_init__(self) -> None:
        checks = {
            "image_size": self.image_size >= 32,
            "epochs": self.epochs >= 1,
            "batch_size": self.batch_size >= 1,
            "learning_rate": self.learning_rate > 0,
            "dropout": 0 <= self.dropout < 1,
            "weight_decay": self.weight_decay >= 0,
            "early_stopping_patience": self.early_stopping_patience >= 0,
            "backbone_alpha": self.backbone_alpha > 0,
        }
        bad = [name for name, ok in checks.items() if not ok]
        if bad:
            values = ", ".join(f"{name}={getattr(self, name)!r}" for name in bad)
            raise ValueError(f"Invalid training setting(s): {values}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainingConfig:
        """Rebuilds the config in the Trainer; unknown keys are an error, not silently dropped."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"Unknown training setting(s): {', '.join(unknown)}")
        return cls(**values)
