"""`make models` and `make rollback VERSION=n`: the pushed versions, and serving an earlier one.

    python -m pipeline.models list [--serving-dir outputs/serving]
    python -m pipeline.models rollback 3 [--reason "v4 misclassifies night images"]

A rollback publishes a copy of version 3 as the newest version (what serving loads and the
next run's baseline); every earlier version and record stays where it was.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping

import tensorflow as tf

from components.registry import model_card, registry
from pipeline import exit_codes
from pipeline.config import registry_folder
from pipeline.settings import MODELS_SETTINGS, add_settings

METRICS_SHOWN = ("accuracy", "loss")


def _metric(metrics: dict | None, name: str) -> str:
    if not metrics or metrics.get(name) is None:
        return "-"
    return f"{metrics[name]:.4f}"


def _what(version: registry.Version) -> str:
    record = version.record
    if version.record_problem:
        return f"(record unreadable: {version.record_problem})"
    if record is None:
        return "(no record: not pushed by this pipeline)"
    decision = record.get("decision") or {}
    if decision.get("action") == "rollback":
        return f"rollback to {decision['rollback_of']}" + (
            f": {decision['reason']}" if decision.get("reason") else ""
        )
    baseline = decision.get("baseline_version")
    return f"pushed, beat version {baseline}" if baseline else "pushed, first (no baseline)"


def format_versions(versions: list[registry.Version], stray: list[str] = ()) -> str:
    """A table, newest last, the served one marked; numbered folders that are no version named."""
    note = (
        f"\nNot versions (numbered folders without a SavedModel, left as they are): "
        f"{', '.join(stray)}"
        if stray
        else ""
    )
    if not versions:
        return "No model has been pushed yet." + note
    header = f"  {'version':>7}  {'pushed at (UTC)':<26}" + "".join(
        f"{name:>10}" for name in METRICS_SHOWN
    )
    lines = [header + "  what", "  " + "-" * (len(header) + 30)]
    for version in versions:
        record = version.record or {}
        marker = "*" if version is versions[-1] else " "
        lines.append(
            f"{marker} {version.number:>7}  {record.get('pushed_at', '-'):<26}"
            + "".join(f"{_metric(record.get('metrics'), name):>10}" for name in METRICS_SHOWN)
            + f"  {_what(version)}"
        )
    served = versions[-1]
    lines.append(f"\n* served (and the baseline of the next run): version {served.number}")
    card = os.path.join(served.path, model_card.MODEL_CARD_FILE)
    if tf.io.gfile.exists(card):  # SERVING_DIR may be an object store
        lines.append(f"Its model card: {card} (each version has one in its folder)")
    return "\n".join(lines) + note


def listing(serving_dir: str) -> str:
    return format_versions(registry.list_versions(serving_dir), registry.stray_folders(serving_dir))


def build_parser(environ: Mapping[str, str]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__)
    add_settings(parser, MODELS_SETTINGS, environ)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="list pushed versions with their metrics")
    rollback = commands.add_parser("rollback", help="serve an earlier version again")
    rollback.add_argument("version", help="the version number to serve")
    rollback.add_argument("--reason", default="", help="why, kept in the record")
    return parser


def main(argv: list[str] | None = None, environ: Mapping[str, str] = os.environ) -> int:
    args = build_parser(environ).parse_args(argv)
    args.serving_dir = registry_folder(args.serving_dir, args.outputs)
    if args.command == "list":
        print(f"Models in {args.serving_dir}:")
        print(listing(args.serving_dir))
        return exit_codes.SUCCESS
    if not args.version.isdigit():
        print(f"error: VERSION must be a version number, got {args.version!r}", file=sys.stderr)
        return exit_codes.BAD_INPUT
    try:
        restored = registry.rollback(args.serving_dir, int(args.version), reason=args.reason)
    except registry.RegistryError as e:
        print(f"error: {e}", file=sys.stderr)
        return exit_codes.BAD_INPUT
    print(f"Version {args.version} is served again, as version {restored.number}: {restored.path}")
    print(listing(args.serving_dir))
    return exit_codes.SUCCESS


if __name__ == "__main__":
    sys.exit(main())
