"""`make tensorboard`: TensorBoard on the last run's training logs.

    python -m pipeline.tensorboard [--outputs outputs] [--port 6006]

The last run is the one `<OUTPUTS>/last_run.json` describes; its Trainer wrote TensorBoard's
logs (loss and accuracy per epoch, train and validation) in its model_run folder. A cached
Trainer's folder is the run that trained it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping

from pipeline import exit_codes
from pipeline.config import DEFAULT_OUTPUTS, OutputLayout
from pipeline.settings import OUTPUTS, TENSORBOARD_PORT, add_setting

DEFAULT_PORT = 6006  # TensorBoard's own
PKG_RESOURCES_WARNING = "ignore:pkg_resources is deprecated:UserWarning"


def last_run_logdir(outputs: str) -> str:
    """The model_run folder of the last run's Trainer; ValueError saying why there is none."""
    summary_path = OutputLayout(outputs).summary_path
    try:
        with open(summary_path) as f:
            summary = json.load(f)
    except FileNotFoundError:
        message = f"no run in {outputs} yet ({summary_path} is missing): run make local"
        raise ValueError(message) from None
    except json.JSONDecodeError as e:
        raise ValueError(f"{summary_path} is not valid JSON ({e})") from e
    model_run = (summary.get("training") or {}).get("model_run")
    if not model_run or not os.path.isdir(model_run):
        raise ValueError(
            f"the last run in {outputs} left no training logs (its Trainer did not run, or its "
            "folder was removed)"
        )
    return model_run


def main(argv: list[str] | None = None, environ: Mapping[str, str] = os.environ) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_setting(parser, "outputs", OUTPUTS, environ, DEFAULT_OUTPUTS)
    add_setting(parser, "port", TENSORBOARD_PORT, environ, DEFAULT_PORT)
    args = parser.parse_args(argv)
    try:
        logdir = last_run_logdir(args.outputs)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return exit_codes.BAD_INPUT
    print(f"TensorBoard on {logdir}: http://localhost:{args.port}/ (Ctrl-C stops it)", flush=True)
    # TensorBoard 2.16 imports pkg_resources, which warns of its own removal on every start.
    quiet = ",".join(filter(None, [os.environ.get("PYTHONWARNINGS"), PKG_RESOURCES_WARNING]))
    command = [sys.executable, "-m", "tensorboard.main", "--logdir", logdir, "--port"]
    environment = {**os.environ, "PYTHONWARNINGS": quiet}
    os.execve(sys.executable, [*command, str(args.port)], environment)
    return exit_codes.SUCCESS  # not reached: TensorBoard took the process over


if __name__ == "__main__":
    sys.exit(main())
