"""Pretrained weights from a user's file, whatever saved it, without running anything from it.

Accepted: HDF5 (`.h5`, `.weights.h5`: weights only or a whole model), a `.keras` archive, or a
SavedModel folder; saved by tf-keras or by Keras 3. The file may hold the backbone alone or a
whole model built on it (say, someone's classifier): the backbone's layers are found inside it by
their names, which `keras.applications` fixes per architecture.

Safety: the architecture always comes from `keras.applications`, never from the file, and the
file is only read for arrays (h5py for HDF5 and `.keras`; a SavedModel's checkpoint, named by
its object graph, never `tf.saved_model.load`, which runs the initializers of the resources it
restores), so no Python code, Lambda layer, custom object or graph in it is ever run.
"""

from __future__ import annotations

import os
import re
import zipfile
from collections import defaultdict
from dataclasses import dataclass

import h5py
import numpy as np

# A layer name -> its arrays, each with the variable's own name ("kernel") where the format
# keeps it, or None where it keeps only the order (Keras's newer format: vars/0, vars/1, ...).
LayerArrays = dict[str, list[tuple[str | None, np.ndarray]]]

_KERAS_ARCHIVE_WEIGHTS = "model.weights.h5"


class WeightsUnavailableError(RuntimeError):
    """Pretrained weights were asked for but cannot be had; the message says what to do."""


class WeightsFileError(WeightsUnavailableError):
    """The file cannot give the backbone its weights; the message names the file and why."""


@dataclass(frozen=True)
class LoadReport:
    """What was loaded: enough for a log line a user can check against their expectations."""

    path: str
    file_format: str
    layers_loaded: int
    arrays_loaded: int


def load_into(backbone, path: str) -> LoadReport:
    """Sets every weight of `backbone` from the file at `path`, or raises WeightsFileError.

    All or nothing: every layer with weights must be found with matching shapes before any is
    set, so a half-matching file never leaves a half-loaded backbone.
    """
    file_format, arrays = read_layer_arrays(path)
    assignments = _match(backbone, arrays, path)
    for layer, values in assignments:
        layer.set_weights(values)
    return LoadReport(
        path=path,
        file_format=file_format,
        layers_loaded=len(assignments),
        arrays_loaded=sum(len(values) for _, values in assignments),
    )


def read_layer_arrays(path: str) -> tuple[str, LayerArrays]:
    """The file's arrays grouped by the layer that owns them, and a name for its format."""
    if not os.path.exists(path):
        raise WeightsFileError(f"Weights file {path!r} does not exist.")
    if os.path.isdir(path):
        if not os.path.exists(os.path.join(path, "saved_model.pb")):
            raise WeightsFileError(
                f"{path!r} is a folder but not a SavedModel (no saved_model.pb)."
            )
        return "SavedModel", _read_saved_model(path)
    if zipfile.is_zipfile(path):
        return ".keras archive", _read_keras_archive(path)
    if h5py.is_hdf5(path):
        with h5py.File(path, "r") as f:
            return "HDF5", _read_h5(f)
    raise WeightsFileError(
        f"{path!r} is neither HDF5 (.h5), a .keras archive nor a SavedModel folder."
    )


def _read_keras_archive(path: str) -> LayerArrays:
    with zipfile.ZipFile(path) as archive:
        if _KERAS_ARCHIVE_WEIGHTS not in archive.namelist():
            raise WeightsFileError(f"{path!r} is a zip file without {_KERAS_ARCHIVE_WEIGHTS}.")
        with archive.open(_KERAS_ARCHIVE_WEIGHTS) as member, h5py.File(member, "r") as f:
            return _read_h5(f)


def _read_h5(f: h5py.File) -> LayerArrays:
    """Both HDF5 layouts Keras writes. Legacy (tf-keras `.h5`): groups listing `weight_names`
    such as "Conv1/kernel:0", keyed here by layer name. Newer (`.keras`, `.weights.h5`, both
    Keras versions): "layers/<class>_<n>/vars/<index>", a layer known by its class and its
    place among the model's layers of that class, nested models as "layers/functional/layers/...";
    keyed here by that whole path."""
    arrays: LayerArrays = defaultdict(list)

    def visit(name: str, item) -> None:
        if not isinstance(item, h5py.Group):
            return
        if "weight_names" in item.attrs:  # legacy: names like "Conv1/kernel:0"
            for weight_name in item.attrs["weight_names"]:
                weight_name = _text(weight_name)
                layer, variable = _split_variable_name(weight_name)
                arrays[layer].append((variable, np.asarray(item[weight_name])))
        elif name.split("/")[-1] == "vars" and len(item):  # newer: .../<key>/vars/0, 1, ...
            owner = name.rsplit("/", 1)[0]  # the whole path: keys name layers by class and order
            for index in sorted(item, key=int):
                arrays[owner].append((None, np.asarray(item[index])))

    f.visititems(visit)
    return dict(arrays)


def _read_saved_model(path: str) -> LayerArrays:
    """The variables of a SavedModel, read from its checkpoint as tensors, named by its object
    graph: nothing in it is loaded or run (tf.saved_model.load would run the initializers of
    the resources it restores, code that the file's author wrote)."""
    import tensorflow as tf  # heavy; only SavedModels need it here
    from tensorflow.core.protobuf import saved_model_pb2, trackable_object_graph_pb2

    saved = saved_model_pb2.SavedModel()
    with open(os.path.join(path, "saved_model.pb"), "rb") as f:
        saved.ParseFromString(f.read())
    objects = saved.meta_graphs[0].object_graph_def.nodes
    reader = tf.train.load_checkpoint(os.path.join(path, "variables", "variables"))
    # The checkpoint's object graph numbers its nodes as the SavedModel's does.
    checkpointed = trackable_object_graph_pb2.TrackableObjectGraph()
    checkpointed.ParseFromString(reader.get_tensor("_CHECKPOINTABLE_OBJECT_GRAPH"))
    values: dict[str, np.ndarray] = {}
    for node, stored in zip(objects, checkpointed.nodes, strict=False):
        if node.WhichOneof("kind") != "variable":
            continue
        keys = [a.checkpoint_key for a in stored.attributes if a.name == "VARIABLE_VALUE"]
        if keys:  # a variable reached twice is read once
            values.setdefault(node.variable.name, reader.get_tensor(keys[0]))
    arrays: LayerArrays = defaultdict(list)
    for full_name, value in values.items():
        layer, name = _split_variable_name(full_name)
        arrays[layer].append((name, np.asarray(value)))
    return dict(arrays)


def _split_variable_name(full_name: str) -> tuple[str, str]:
    """ "outer/Conv1/kernel:0" -> ("Conv1", "kernel"): the owning layer is the last scope."""
    parts = full_name.split(":")[0].split("/")
    if len(parts) < 2:
        return "", parts[-1]
    return parts[-2], parts[-1]


def _text(value) -> str:
    return value.decode("utf8") if isinstance(value, bytes) else str(value)


def _snake_case(class_name: str) -> str:
    """Keras's own rule for a layer's key in its newer format: "DepthwiseConv2D" ->
    "depthwise_conv2d", "ReLU" -> "re_lu"."""
    name = re.sub(r"\W+", "", class_name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def positional_keys(backbone) -> dict[str, str]:
    """Each layer's key in Keras's newer format: its class in snake case, suffixed "_<n>" for
    the n-th further layer of that class, counted in the model's layer order."""
    seen: dict[str, int] = {}
    keys = {}
    for layer in backbone.layers:
        key = _snake_case(type(layer).__name__)
        if key in seen:
            seen[key] += 1
            key = f"{key}_{seen[key]}"
        else:
            seen[key] = 0
        keys[layer.name] = key
    return keys


def _keys_for(backbone, arrays: LayerArrays) -> dict[str, str]:
    """Layer name -> the file's key for that layer's arrays.

    By name when the file keeps names (legacy HDF5, SavedModel); otherwise by position, under
    the one path prefix that holds every layer (the backbone alone, or nested in a model).
    """
    weighted = [layer.name for layer in backbone.layers if layer.weights]
    if any(name in arrays for name in weighted):
        return {name: name for name in weighted}
    positions = positional_keys(backbone)
    prefixes = {key.rsplit("/", 1)[0] for key in arrays if "/" in key}
    for prefix in sorted(prefixes, key=len):
        if all(f"{prefix}/{positions[name]}" in arrays for name in weighted):
            return {name: f"{prefix}/{positions[name]}" for name in weighted}
    return {name: name for name in weighted}


def _match(backbone, arrays: LayerArrays, path: str) -> list:
    """Pairs each of the backbone's layers with the file's arrays for it, checking shapes."""
    assignments, missing = [], []
    keys = _keys_for(backbone, arrays)
    for layer in backbone.layers:
        if not layer.weights:
            continue
        found = arrays.get(keys[layer.name])
        if found is None:
            missing.append(layer.name)
            continue
        values = _ordered(layer, found)
        expected = [tuple(w.shape) for w in layer.weights]
        actual = [v.shape for v in values] if values else [a.shape for _, a in found]
        if values is None or expected != actual:
            raise WeightsFileError(
                f"{path!r}: layer {layer.name!r} has weights of shapes {actual} in the file but "
                f"{expected} in {backbone.name}: the file was saved from another architecture "
                "or width (alpha), or holds this layer name twice."
            )
        assignments.append((layer, values))
    if missing:
        weighted = sum(1 for layer in backbone.layers if layer.weights)
        raise WeightsFileError(
            f"{path!r} holds no weights for {len(missing)} of the {weighted} layers of "
            f"{backbone.name} (for example {', '.join(missing[:3])}); it holds layers such as "
            f"{', '.join(sorted(arrays)[:3]) or 'none'}. Is it a model of another architecture?"
        )
    return assignments


def _ordered(layer, found: list[tuple[str | None, np.ndarray]]) -> list[np.ndarray] | None:
    """The arrays in the layer's weight order: by variable name where the file kept names."""
    if len(found) != len(layer.weights):
        return None
    by_name = {name: value for name, value in found if name is not None}
    if len(by_name) == len(found):
        names = [_split_variable_name(w.name)[1] for w in layer.weights]
        if set(names) == set(by_name):
            return [by_name[name] for name in names]
    return [value for _, value in found]
