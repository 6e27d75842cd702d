"""The registry on a real file system with tiny real SavedModels: versions, atomicity, rollback."""

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import tensorflow as tf

from components.registry import registry
from tests.helpers import save_tiny_model

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("models")
    return {name: save_tiny_model(root / name, scale) for name, scale in [("a", 2.0), ("b", 3.0)]}


def served_scale(version: registry.Version) -> float:
    return float(tf.saved_model.load(version.path).scale.numpy())


def test_an_empty_or_missing_destination_serves_nothing(tmp_path):
    assert registry.list_versions(str(tmp_path / "missing")) == []
    assert registry.served_version(str(tmp_path)) is None


def test_publish_numbers_versions_and_writes_the_record_inside(tmp_path, models):
    serving = str(tmp_path / "serving")

    first = registry.publish(serving, models["a"], {"metrics": {"accuracy": 0.7}})
    second = registry.publish(serving, models["b"], {"metrics": {"accuracy": 0.8}})

    assert (first.number, second.number) == (1, 2)
    # No partial folder left behind; the highest number published is kept, hidden.
    hidden = [registry.LAST_VERSION_FILE, registry.PUSH_LOCK_FILE]
    assert sorted(os.listdir(serving)) == sorted([*hidden, "1", "2"])
    assert registry.served_version(serving).number == 2
    assert served_scale(registry.served_version(serving)) == 3.0
    with open(os.path.join(serving, "1", registry.RECORD_FILE)) as f:
        record = json.load(f)
    assert record["version"] == 1
    assert record["metrics"] == {"accuracy": 0.7}
    assert record["pushed_at"].endswith("+00:00")


def test_fingerprint_tells_models_apart_and_ignores_the_record_and_statistics(tmp_path, models):
    a, b = models["a"], models["b"]
    assert registry.model_fingerprint(a) != registry.model_fingerprint(b)
    pushed = registry.publish(str(tmp_path), a, {"model": {"fingerprint": "x"}}, b"stats")
    assert registry.read_statistics(pushed.path) == b"stats"
    assert registry.model_fingerprint(pushed.path) == registry.model_fingerprint(a)
    # A copy of the model (the baseline's) is the model alone.
    registry.copy_model(pushed.path, str(tmp_path / "copy"))
    assert not set(os.listdir(tmp_path / "copy")) & set(registry.VERSION_FILES)
    assert registry.model_fingerprint(str(tmp_path / "copy")) == registry.model_fingerprint(a)


def test_a_crashed_push_leaves_no_version_and_only_a_hidden_partial_folder(tmp_path, models):
    serving = tmp_path / "serving"
    registry.publish(str(serving), models["a"], {})
    # What a push killed before its rename leaves: a hidden partial folder with a whole model.
    registry.copy_model(models["b"], str(serving / f"{registry.PARTIAL_PREFIX}crashed"))
    # And a numbered folder without a SavedModel (e.g. copied by hand, half-way).
    (serving / "7").mkdir()

    assert [v.number for v in registry.list_versions(str(serving))] == [1]
    assert served_scale(registry.served_version(str(serving))) == 2.0


def test_publish_takes_the_next_number_when_another_push_took_it(tmp_path, models, monkeypatch):
    serving = str(tmp_path)
    registry.publish(serving, models["a"], {})
    real_rename = tf.io.gfile.rename
    raced = []

    def rename_after_a_rival(source, target, overwrite=False):
        if not raced:  # a concurrent push publishes version 2 just before ours renames
            raced.append(target)
            registry.copy_model(models["a"], os.path.join(serving, "2"))
        return real_rename(source, target, overwrite=overwrite)

    monkeypatch.setattr(tf.io.gfile, "rename", rename_after_a_rival)
    ours = registry.publish(serving, models["b"], {"mine": True})

    assert raced == [os.path.join(serving, "2")]
    assert ours.number == 3
    assert served_scale(ours) == 3.0
    assert registry.read_record(ours.path)["mine"] is True


def test_rollback_serves_an_earlier_model_as_a_new_version_keeping_history(tmp_path, models):
    serving = str(tmp_path)
    registry.publish(
        serving, models["a"], {"metrics": {"accuracy": 0.9}, "code_version": "c1"}, b"data of 1"
    )
    registry.publish(serving, models["b"], {"metrics": {"accuracy": 0.6}}, b"data of 2")

    restored = registry.rollback(serving, 1, reason="v2 misbehaves")

    # The next run checks drift against the data the restored model was trained on.
    assert registry.read_statistics(restored.path) == b"data of 1"
    assert restored.number == 3
    assert [v.number for v in registry.list_versions(serving)] == [1, 2, 3]
    assert registry.served_version(serving).number == 3
    assert served_scale(restored) == 2.0
    record = registry.read_record(restored.path)
    assert record["decision"] == {
        "action": "rollback",
        "rollback_of": 1,
        "replaced": 2,
        "reason": "v2 misbehaves",
    }
    assert record["metrics"] == {"accuracy": 0.9}
    assert record["code_version"] == "c1"


def test_rollback_to_an_unknown_or_already_served_version_is_refused(tmp_path, models):
    serving = str(tmp_path)
    registry.publish(serving, models["a"], {})
    with pytest.raises(registry.RegistryError, match=r"No version 5 .*versions: 1"):
        registry.rollback(serving, 5)
    with pytest.raises(registry.RegistryError, match="already the served version"):
        registry.rollback(serving, 1)
    assert [v.number for v in registry.list_versions(serving)] == [1]


def test_find_by_fingerprint(tmp_path, models):
    serving = str(tmp_path)
    fingerprint = registry.model_fingerprint(models["a"])
    registry.publish(serving, models["a"], {"model": {"fingerprint": fingerprint}})
    assert registry.find_by_fingerprint(serving, fingerprint).number == 1
    assert registry.find_by_fingerprint(serving, registry.model_fingerprint(models["b"])) is None


def test_a_pushed_version_is_writable_by_no_one_but_its_owner(tmp_path, models):
    previous = os.umask(0)  # the most permissive umask a user could have
    try:
        version = registry.publish(str(tmp_path / "serving"), models["a"], {})
    finally:
        os.umask(previous)

    for parent, _, names in os.walk(version.path):
        for path in [parent, *(os.path.join(parent, name) for name in names)]:
            assert os.stat(path).st_mode & 0o022 == 0, path


def test_a_damaged_record_is_named_on_its_version_and_lists_everything_else(tmp_path, models):
    serving = str(tmp_path)
    first = registry.publish(serving, models["a"], {"metrics": {"accuracy": 0.9}})
    registry.publish(serving, models["b"], {})
    record = os.path.join(first.path, registry.RECORD_FILE)
    os.chmod(first.path, 0o755)
    os.chmod(record, 0o644)
    with open(record, "w") as f:
        f.write('{"metrics": {"accur')  # cut short by a hand edit

    versions = registry.list_versions(serving)

    assert [v.number for v in versions] == [1, 2]
    assert versions[0].record is None
    assert registry.RECORD_FILE in versions[0].record_problem
    assert "not a JSON record" in versions[0].record_problem
    assert registry.publish(serving, models["a"], {}).number == 3


def test_a_numbered_folder_without_a_model_is_stray_and_its_number_skipped(tmp_path, models):
    serving = tmp_path
    registry.publish(str(serving), models["a"], {})
    (serving / "2").mkdir()  # an empty folder where the next version would go

    pushed = registry.publish(str(serving), models["b"], {})

    assert pushed.number == 3
    assert registry.stray_folders(str(serving)) == ["2"]
    assert [v.number for v in registry.list_versions(str(serving))] == [1, 3]


def test_a_deleted_versions_number_is_never_given_again(tmp_path, models):
    serving = str(tmp_path)
    registry.publish(serving, models["a"], {})
    newest = registry.publish(serving, models["b"], {})
    os.chmod(newest.path, 0o755)
    tf.io.gfile.rmtree(newest.path)

    assert registry.publish(serving, models["a"], {}).number == 3


def test_a_model_judged_against_an_older_version_is_not_published_over_a_newer(tmp_path, models):
    serving = str(tmp_path)
    registry.publish(serving, models["a"], {}, expected_served=0)
    registry.publish(serving, models["b"], {}, expected_served=1)

    with pytest.raises(registry.RegistryError, match="version 2 is served .* against version 1"):
        registry.publish(serving, models["a"], {"late": True}, expected_served=1)

    assert [v.number for v in registry.list_versions(serving)] == [1, 2]
    assert not [n for n in os.listdir(serving) if n.startswith(registry.PARTIAL_PREFIX)]


HOLD_THE_LOCK_AND_PUBLISH = """
import sys, time
from components.registry import registry
serving, model = sys.argv[1:]
with registry.push_lock(serving):
    print("holding", flush=True)
    time.sleep(1.5)
    registry.copy_model(model, serving + "/1")  # a version lands while the lock is held
"""


def test_a_push_waits_for_another_process_publishing_and_then_sees_its_version(tmp_path, models):
    serving = tmp_path / "serving"
    serving.mkdir()
    other = subprocess.Popen(
        [sys.executable, "-c", HOLD_THE_LOCK_AND_PUBLISH, str(serving), models["a"]],
        cwd=Path(__file__).resolve().parents[2],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert other.stdout.readline().strip() == "holding"
        # Judged against nothing served; by the time the lock is ours, version 1 is.
        with pytest.raises(registry.RegistryError, match="version 1 is served"):
            registry.publish(str(serving), models["b"], {}, expected_served=0)
    finally:
        assert other.wait(timeout=60) == 0

    assert [v.number for v in registry.list_versions(str(serving))] == [1]
    assert served_scale(registry.served_version(str(serving))) == 2.0


PUBLISH = """
import sys
from components.registry import registry
registry.publish(sys.argv[1], sys.argv[2], {"killed": True})
"""


def test_a_push_killed_mid_copy_leaves_the_served_version_and_no_new_one(tmp_path, models):
    serving = tmp_path / "serving"
    registry.publish(str(serving), models["a"], {})
    big = tmp_path / "big"  # enough files that the copy takes a while to kill it in
    shutil.copytree(models["b"], big)
    bulk = big / "assets.extra" / "bulk"
    bulk.mkdir(parents=True)
    for i in range(3000):
        (bulk / f"{i}.bin").write_bytes(os.urandom(4096))
    pusher = subprocess.Popen(
        [sys.executable, "-c", PUBLISH, str(serving), str(big)],
        cwd=Path(__file__).resolve().parents[2],
    )
    deadline = time.monotonic() + 120
    while not [n for n in os.listdir(serving) if n.startswith(registry.PARTIAL_PREFIX)]:
        assert pusher.poll() is None, "the push ended before its copy could be interrupted"
        assert time.monotonic() < deadline, "the push never started copying"
        time.sleep(0.005)
    pusher.kill()  # SIGKILL: no cleanup runs
    pusher.wait()

    assert [n for n in os.listdir(serving) if n.startswith(registry.PARTIAL_PREFIX)]
    assert [v.number for v in registry.list_versions(str(serving))] == [1]
    assert served_scale(registry.served_version(str(serving))) == 2.0
    assert registry.publish(str(serving), models["b"], {}).number == 2


def test_on_an_object_store_a_version_is_complete_before_it_is_one(models, monkeypatch):
    """TensorFlow's in-memory file system (`ram://`) stands for an object store: the same
    code path as gs:// or s3://. Every copy into the numbered folder is recorded as it is
    made: saved_model.pb, which makes the folder a version to the registry and a SavedModel to
    TensorFlow Serving, comes last, after the variables it needs."""
    serving = f"ram://serving-{os.getpid()}"
    copied = []
    real_copy = tf.io.gfile.copy

    def recording_copy(source, target, overwrite=False):
        if target.startswith(os.path.join(serving, "1")):
            copied.append(os.path.relpath(target, os.path.join(serving, "1")))
            # Until the last object lands, the folder is not a version.
            assert registry.list_versions(serving) == []
        real_copy(source, target, overwrite=overwrite)

    monkeypatch.setattr(tf.io.gfile, "copy", recording_copy)
    published = registry.publish(serving, models["a"], {"metrics": {"accuracy": 0.7}})

    assert copied[-1] == registry.SAVED_MODEL_FILE
    assert any(name.startswith("variables/") for name in copied)
    assert registry.RECORD_FILE in copied
    assert published.path == os.path.join(serving, "1")
    assert [v.number for v in registry.list_versions(serving)] == [1]
    assert registry.served_version(serving).record["metrics"] == {"accuracy": 0.7}
    assert [name for name in tf.io.gfile.listdir(serving) if registry.PARTIAL_PREFIX in name] == []
    assert registry.model_fingerprint(published.path) == registry.model_fingerprint(models["a"])
