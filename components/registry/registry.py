"""The push destination as a registry: numbered model versions, each with a JSON record.

Layout (what TensorFlow Serving watches, plus one file per version):

    <serving_dir>/<version>/saved_model.pb, variables/, assets.extra/ ...
    <serving_dir>/<version>/push_record.json   metrics, baseline, decision, data, config, code
    <serving_dir>/<version>/training_statistics.pb   statistics of the data that trained it

Serving loads the highest version number, so "served" and "the baseline the next candidate
must beat" are one rule: the latest version. A rollback never deletes history; it publishes a
copy of an earlier version as the newest, with a record saying so.

A version appears by one rename of a complete folder written aside (`.partial-*`), so a crash
mid-push leaves no half model under a number. Object stores have no rename (theirs copies
object by object, in name order: `saved_model.pb` before `variables/`), so there the folder is
copied into place with `saved_model.pb` last: until that object exists, the folder is no
version to this registry and no loadable SavedModel to TensorFlow Serving, which keeps serving
the version before (docs/evaluation.md).

A number is never given twice: the next is above every numbered folder, complete or not, and
above the highest ever published (`.last_version`), so a deleted version's number stays
retired. Hand edits are named, never fatal: an unreadable record reads as none, with the reason
kept on the version, and a numbered folder without a model is listed as stray.
"""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import hashlib
import json
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import tensorflow as tf
from absl import logging

from components.common.artifact_json import write_json
from components.registry import model_card

RECORD_FILE = "push_record.json"
# The train split's statistics (a DatasetFeatureStatisticsList) of the version's run: the next
# run's data is checked for drift against what trained the served model.
STATISTICS_FILE = "training_statistics.pb"
# Files about a version, not of its model: outside its fingerprint and its model copies.
VERSION_FILES = (RECORD_FILE, STATISTICS_FILE, model_card.MODEL_CARD_FILE)
PARTIAL_PREFIX = ".partial-"
# The highest number ever published here; hidden, so TensorFlow Serving ignores it.
LAST_VERSION_FILE = ".last_version"
# Held by whoever publishes (a push, a rollback) while it picks its number and renames.
PUSH_LOCK_FILE = ".push.lock"
SAVED_MODEL_FILE = "saved_model.pb"


class RegistryError(RuntimeError):
    """A registry operation could not be done; the message names the version or folder."""


@dataclass(frozen=True)
class Version:
    """One pushed model: its number, folder and record (None for a folder pushed by others,
    or whose record cannot be read: `record_problem` then says why)."""

    number: int
    path: str
    record: dict[str, Any] | None
    record_problem: str | None = None

    @property
    def fingerprint(self) -> str | None:
        return (self.record or {}).get("model", {}).get("fingerprint")


def _is_version_folder(serving_dir: str, name: str) -> bool:
    name = name.rstrip("/")
    return name.isdigit() and tf.io.gfile.exists(os.path.join(serving_dir, name, SAVED_MODEL_FILE))


def read_record(version_dir: str) -> dict[str, Any] | None:
    """A version's record, None if it has none; RegistryError naming the file if unreadable."""
    path = os.path.join(version_dir, RECORD_FILE)
    if not tf.io.gfile.exists(path):
        return None
    try:
        with tf.io.gfile.GFile(path) as f:
            record = json.load(f)
    except (ValueError, UnicodeDecodeError) as e:  # JSONDecodeError is a ValueError
        raise RegistryError(f"{path} is not a JSON record ({e})") from e
    if not isinstance(record, dict):
        raise RegistryError(f"{path} holds a {type(record).__name__}, not a record")
    return record


def _version(serving_dir: str, number: int) -> Version:
    path = os.path.join(serving_dir, str(number))
    try:
        return Version(number, path, read_record(path))
    except RegistryError as e:
        return Version(number, path, None, record_problem=str(e))


def _numbered_names(serving_dir: str) -> list[str]:
    return [
        name.rstrip("/") for name in tf.io.gfile.listdir(serving_dir) if name.rstrip("/").isdigit()
    ]


def list_versions(serving_dir: str) -> list[Version]:
    """Every complete version, oldest first; partial folders, numbered folders without a
    SavedModel and stray files are not versions (stray_folders names the numbered ones)."""
    if not tf.io.gfile.isdir(serving_dir):
        return []
    numbers = sorted(
        int(name) for name in _numbered_names(serving_dir) if _is_version_folder(serving_dir, name)
    )
    return [_version(serving_dir, n) for n in numbers]


def stray_folders(serving_dir: str) -> list[str]:
    """Numbered folders that hold no SavedModel (copied by hand, half-way): not served, and
    their numbers are not given to a new version."""
    if not tf.io.gfile.isdir(serving_dir):
        return []
    return sorted(
        (
            name
            for name in _numbered_names(serving_dir)
            if not _is_version_folder(serving_dir, name)
        ),
        key=int,
    )


def _last_published(serving_dir: str) -> int:
    path = os.path.join(serving_dir, LAST_VERSION_FILE)
    if not tf.io.gfile.exists(path):
        return 0
    with tf.io.gfile.GFile(path) as f:
        text = f.read().strip()
    return int(text) if text.isdigit() else 0


def next_number(serving_dir: str) -> int:
    """Above every numbered folder and every number ever published: never one used before."""
    taken = (
        [int(name) for name in _numbered_names(serving_dir)]
        if tf.io.gfile.isdir(serving_dir)
        else []
    )
    return max([_last_published(serving_dir), *taken]) + 1


def served_version(serving_dir: str) -> Version | None:
    """The version serving loads, and the baseline of the next run: the highest number."""
    versions = list_versions(serving_dir)
    return versions[-1] if versions else None


def get_version(serving_dir: str, number: int) -> Version:
    for version in list_versions(serving_dir):
        if version.number == number:
            return version
    known = ", ".join(str(v.number) for v in list_versions(serving_dir)) or "none"
    raise RegistryError(f"No version {number} in {serving_dir} (versions: {known}).")


def _all_files(folder: str) -> list[str]:
    """Relative paths of every file under `folder`, sorted."""
    return sorted(
        os.path.relpath(os.path.join(parent, name), folder)
        for parent, _, names in tf.io.gfile.walk(folder)
        for name in names
    )


def _files(model_dir: str) -> list[str]:
    """Relative paths of every model file under model_dir, sorted (VERSION_FILES excluded)."""
    return [relative for relative in _all_files(model_dir) if relative not in VERSION_FILES]


def model_fingerprint(model_dir: str) -> str:
    """sha256 over every file's path and bytes: the same model folder gives the same value."""
    if not tf.io.gfile.exists(os.path.join(model_dir, SAVED_MODEL_FILE)):
        raise RegistryError(f"No SavedModel in {model_dir}: nothing to fingerprint.")
    digest = hashlib.sha256()
    for relative in _files(model_dir):
        digest.update(relative.encode() + b"\0")
        with tf.io.gfile.GFile(os.path.join(model_dir, relative), "rb") as f:
            digest.update(hashlib.sha256(f.read()).digest())
    return digest.hexdigest()


def copy_model(source_dir: str, target_dir: str) -> None:
    """Copies a model folder (any file system TensorFlow knows); VERSION_FILES stay behind."""
    for relative in _files(source_dir):
        target = os.path.join(target_dir, relative)
        tf.io.gfile.makedirs(os.path.dirname(target))
        tf.io.gfile.copy(os.path.join(source_dir, relative), target, overwrite=True)


def read_statistics(folder: str) -> bytes | None:
    """The serialized training statistics kept in a version (or a copy's) folder, if any."""
    path = os.path.join(folder, STATISTICS_FILE)
    if not tf.io.gfile.exists(path):
        return None
    with tf.io.gfile.GFile(path, "rb") as f:
        return f.read()


def write_statistics(folder: str, statistics: bytes) -> None:
    tf.io.gfile.makedirs(folder)
    with tf.io.gfile.GFile(os.path.join(folder, STATISTICS_FILE), "wb") as f:
        f.write(statistics)


def _no_write_for_others(folder: str) -> None:
    """Takes group and world write off a version's files and folders, whatever the umask: a
    served model is changed by a new push, never in place. (Object stores have no modes.)"""
    if "://" in folder:
        return
    for parent, _, names in os.walk(folder):
        for path in [parent, *(os.path.join(parent, name) for name in names)]:
            os.chmod(path, os.stat(path).st_mode & ~0o022)


@contextlib.contextmanager
def push_lock(serving_dir: str) -> Iterator[None]:
    """One publisher at a time per push destination, on a local or POSIX file system: the
    kernel's lock (flock), which dies with its process. Object stores have no such lock; there
    the served-version check in `publish` is the guard, and a race narrower than it remains."""
    if "://" in serving_dir:
        yield
        return
    with open(os.path.join(serving_dir, PUSH_LOCK_FILE), "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)  # pushes take seconds: wait for the other to finish
        yield


def now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def publish(
    serving_dir: str,
    model_dir: str,
    record: dict[str, Any],
    statistics: bytes | None = None,
    expected_served: int | None = None,
) -> Version:
    """Adds `model_dir` as the next version with `record` (and its training `statistics`, when
    given); returns it.

    The model and its record are written under a hidden partial name, then, holding the push
    lock, renamed to the version number in one step. If another push took that number
    meanwhile, the rename fails and the next number is tried: two pushes never share a folder.
    With `expected_served` (the version the model was judged against, 0 for none), a model is
    not published over another version than that one: RegistryError names both.
    """
    tf.io.gfile.makedirs(serving_dir)
    partial = os.path.join(serving_dir, f"{PARTIAL_PREFIX}{uuid.uuid4().hex}")
    try:
        copy_model(model_dir, partial)
        if statistics is not None:
            write_statistics(partial, statistics)
        with push_lock(serving_dir):
            return _rename_into_place(serving_dir, partial, record, expected_served)
    finally:
        if tf.io.gfile.exists(partial):
            tf.io.gfile.rmtree(partial)


def _write_card(folder: str, record: dict[str, Any]) -> None:
    """The version's model card; a card that cannot be written never stops a push (the record,
    which it only retells, is written already)."""
    try:
        text = model_card.render(record)
        with tf.io.gfile.GFile(os.path.join(folder, model_card.MODEL_CARD_FILE), "w") as f:
            f.write(text)
    except Exception as e:  # noqa: BLE001 - any failure here is the card's, not the push's
        logging.warning("No model card for this version: %s: %s", type(e).__name__, e)


def _refuse_if_served_changed(serving_dir: str, expected_served: int | None) -> None:
    if expected_served is None:
        return
    served = served_version(serving_dir)
    number = served.number if served else 0
    if number != expected_served:
        judged = f"version {expected_served}" if expected_served else "no served model"
        raise RegistryError(
            f"Not published: version {number} is served in {serving_dir} now, but this model "
            f"was judged against {judged}. Run again to judge it against what is served."
        )


def _rename_into_place(
    serving_dir: str, partial: str, record: dict[str, Any], expected_served: int | None
) -> Version:
    """The rename that makes `partial` a version (the caller holds the push lock)."""
    _refuse_if_served_changed(serving_dir, expected_served)
    for _ in range(100):
        number = next_number(serving_dir)
        full_record = {**record, "version": number, "pushed_at": now()}
        write_json(os.path.join(partial, RECORD_FILE), full_record)
        _write_card(partial, full_record)
        _no_write_for_others(partial)
        target = os.path.join(serving_dir, str(number))
        try:
            _move_into_place(partial, target)
        except (tf.errors.AlreadyExistsError, tf.errors.FailedPreconditionError, OSError):
            if not tf.io.gfile.exists(target):
                raise
            continue  # a publisher without the lock (an object store) took `number` first
        if number > _last_published(serving_dir):
            with tf.io.gfile.GFile(os.path.join(serving_dir, LAST_VERSION_FILE), "w") as f:
                f.write(f"{number}\n")
        return Version(number, target, full_record)
    raise RegistryError(f"Could not find a free version number in {serving_dir}.")


def _is_object_store(path: str) -> bool:
    return "://" in path and not path.startswith("file://")


def _move_into_place(partial: str, target: str) -> None:
    """`partial` becomes `target`, which must not exist: one rename on a file system; on an
    object store, a copy of every object with `saved_model.pb` last, so that the version is
    complete when it becomes one (then `partial` is deleted)."""
    if not _is_object_store(target):
        tf.io.gfile.rename(partial, target, overwrite=False)
        return
    if tf.io.gfile.exists(target):
        raise tf.errors.AlreadyExistsError(None, None, f"{target} exists")
    for relative in sorted(_all_files(partial), key=lambda name: name == SAVED_MODEL_FILE):
        destination = os.path.join(target, relative)
        tf.io.gfile.makedirs(os.path.dirname(destination))
        tf.io.gfile.copy(os.path.join(partial, relative), destination, overwrite=False)
    tf.io.gfile.rmtree(partial)


def rollback(serving_dir: str, number: int, reason: str = "") -> Version:
    """Serves version `number` again by publishing a copy of it as the newest version.

    History stays: the version rolled away from keeps its folder and record, and the new
    record names both. The copy becomes the baseline of the next run, like any push.
    """
    source = get_version(serving_dir, number)
    current = served_version(serving_dir)
    if current is not None and current.number == number:
        raise RegistryError(f"Version {number} is already the served version in {serving_dir}.")
    earlier = source.record or {}
    record = {
        **{
            key: earlier[key]
            # What describes the model itself, so its card tells the same story.
            for key in (
                "model",
                "metrics",
                "class_names",
                "per_class",
                "confusion_matrix",
                "data",
                "config",
                "code_version",
            )
            if key in earlier
        },
        "decision": {
            "action": "rollback",
            "rollback_of": number,
            "replaced": current.number if current else None,
            "reason": reason,
        },
    }
    return publish(
        serving_dir,
        source.path,
        record,
        read_statistics(source.path),
        expected_served=current.number if current else 0,
    )


def find_by_fingerprint(serving_dir: str, fingerprint: str) -> Version | None:
    """The earliest version holding this exact model, if it was ever pushed."""
    for version in list_versions(serving_dir):
        if version.fingerprint == fingerprint:
            return version
    return None
