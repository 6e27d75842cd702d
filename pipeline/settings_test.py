"""Each setting is described once, in pipeline/settings.py: docs/settings.md is generated from
it (and fails here when stale), every field a user should reach is a setting, and the README's
short table names only real settings with their real flags."""

import dataclasses
import re
from pathlib import Path

import pytest

from components.evaluator.blessing import Gate
from components.trainer.training_config import TrainingConfig
from components.transform.augmentation_spec import AugmentationSpec
from pipeline import settings

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[1]
# Set by the runner, not by a user.
INTERNAL_FIELDS = {"weights_digest"}


def test_docs_settings_md_is_generated_from_the_settings():
    written = (ROOT / settings.SETTINGS_DOC).read_text()
    assert written == settings.markdown(), "docs/settings.md is stale: run make settings-doc"


@pytest.mark.parametrize(
    ("holder", "table", "prefix"),
    [
        (TrainingConfig, settings.TRAINING_SETTINGS, ""),
        (AugmentationSpec, settings.AUGMENTATION_SETTINGS, ""),
        (Gate, settings.GATE_SETTINGS, "gate_"),
    ],
)
def test_every_field_a_user_sets_is_a_setting(holder, table, prefix):
    fields = {f.name for f in dataclasses.fields(holder)} - INTERNAL_FIELDS
    assert fields == {name.removeprefix(prefix) for name in table}


def all_settings() -> list[settings.Setting]:
    return [
        value
        for name, value in vars(settings).items()
        if name.endswith("_SETTINGS") and isinstance(value, dict)
        for value in value.values()
    ] + [settings.OUTPUTS, settings.PRETRAINED_DIR]


def test_a_variable_means_one_flag():
    flags = {}
    for setting in all_settings():
        assert flags.setdefault(setting.env, setting.flag) == setting.flag, setting.env


ROW = re.compile(r"^\| `([A-Z_0-9]+)` \| `(--[a-z-]+)` \| ([^|]*) \|", re.MULTILINE)


def test_the_readme_names_real_settings_with_their_flags_and_defaults():
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Settings", 1)[1].split("\n## ", 1)[0]
    rows = ROW.findall(section)
    assert rows, "no settings table under ## Settings"
    local_docs = settings.markdown().split("## `make compile`", 1)[0]
    documented = {env: (flag, default) for env, flag, default in ROW.findall(local_docs)}
    assert {env: (flag, default) for env, flag, default in rows} == {
        env: documented.get(env) for env, _, _ in rows
    }
