"""The console commands installed with the project, one per operations command, so that
`python -m pipeline.x` is not the only door:

    image-classifier-local --data /path/to/images      (make local)
    image-classifier-pretrain                           (make pretrain)
    image-classifier-demo-data --out data/demo          (make demo-data)
    image-classifier-compile --image ... --data ...     (make compile)
    image-classifier-deploy deploy                      (make deploy, schedule, unschedule)
    image-classifier-models list                        (make models, rollback)
    image-classifier-predict cat.jpg photos/            (make predict)

Each sets what the stack needs before TensorFlow is first imported (STACK_ENVIRONMENT), as the
Makefile does for its targets, then runs that command's main.
"""

from __future__ import annotations

import importlib
import os
import warnings
from typing import NoReturn

# Google's client libraries warn on every import under Python 3.10, which TFX 1.16 requires.
KNOWN_WARNINGS = (
    "You are using a non-supported Python version",
    "Support for google-cloud-storage",
)
# What every process of the stack needs before TensorFlow is first imported: TFX 1.16 runs on
# tf-keras (Keras 2), TensorFlow's C++ start-up chatter off, the known warnings silenced (in
# child processes too). The Makefile exports the same for its targets, and a test keeps the
# two equal; conftest.py sets it for the tests.
STACK_ENVIRONMENT = {
    "TF_USE_LEGACY_KERAS": "1",
    "TF_CPP_MIN_LOG_LEVEL": "3",
    "PYTHONWARNINGS": ",".join(f"ignore:{message}:FutureWarning" for message in KNOWN_WARNINGS),
}


def prepare_environment() -> None:
    """STACK_ENVIRONMENT where not set already, and the known warnings off in this process
    (PYTHONWARNINGS is read only as a process starts)."""
    for name, value in STACK_ENVIRONMENT.items():
        os.environ.setdefault(name, value)
    for message in KNOWN_WARNINGS:
        warnings.filterwarnings("ignore", message, FutureWarning)


def _run(module: str) -> int:
    prepare_environment()
    return importlib.import_module(module).main() or 0


def local() -> NoReturn:
    from pipeline.run.process_exit import exit_after_run

    exit_after_run(_run("pipeline.local_runner"))


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


def predict() -> int:
    return _run("pipeline.predict")
