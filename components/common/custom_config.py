"""The base every stage's settings dataclass shares (training, augmentation)."""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar


class CustomConfig:
    """What every settings dataclass shares: refusing bad values by name, and a strict round
    trip through the plain dict TFX carries as a component's custom_config."""

    KIND: ClassVar[str] = "setting"  # in error messages: "Invalid <KIND>(s): ..."
    ERROR: ClassVar[type[ValueError]] = ValueError

    def refuse_invalid(self, checks: dict[str, bool]) -> None:
        bad = [name for name, ok in checks.items() if not ok]
        if bad:
            values = ", ".join(f"{name}={getattr(self, name)!r}" for name in bad)
            raise self.ERROR(f"Invalid {self.KIND}(s): {values}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]):
        """Unknown keys are an error, not silently dropped."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise cls.ERROR(f"Unknown {cls.KIND}(s): {', '.join(unknown)}")
        return cls(**values)
