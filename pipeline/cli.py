"""The console commands installed with the project, one per operations command, so that
`python -m pipeline.x` is not the only door:

    image-classifier-local --data /path/to/images      (make local)
    image-classifier-pretrain                           (make pretrain)
    image-classifier-demo-data --out data/demo          (make demo-data)
    image-classifier-compile --image ... --data ...     (make compile)
    image-classifier-deploy deploy                      (make deploy, schedule, unschedule)
    image-classifier-models list                        (make models, rollback)

Each sets what the stack needs before TensorFlow is first imported, as the Makefile does for
its targets (TFX 1.16 runs on tf-keras), then runs that command's main.
"""

from __future__ import annotations

import importlib
import os


def _run(module: str) -> int:
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    return importlib.import_module(module).main() or 0


def local() -> int:
    return _run("pipeline.local_runner")


def pretrain() -> int:
    return _run("pipeline.pretrain")


def demo_data() -> int:
    return _run("pipeline.demo_data")


def compile_pipeline() -> int:
    return _run("pipeline.kubeflow_runner")


def deploy() -> int:
    return _run("pipeline.deploy")


def models() -> int:
    return _run("pipeline.models")
