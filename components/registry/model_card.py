"""model_card.md: what a pushed version is, for a person, written from its push record.

What it classifies and how to call it, the data it learned from, how it scored on the eval
split (overall and per class) against the version it replaced, the gate's decision, how it was
trained, and what it is known to do badly. Every number comes from the record beside it
(push_record.json), so the card never says more than the record holds; a record that lacks a
part (an older version, a rollback of one) gets the section without it.
"""

from __future__ import annotations

from typing import Any

from components import features

MODEL_CARD_FILE = "model_card.md"
# A class with fewer eval images than this has per-class scores too noisy to trust: with 10
# images, one image moves recall by 10 points.
FEW_EVAL_IMAGES = 10
# Largest over smallest class: above this, accuracy mostly reflects the large classes.
IMBALANCE_RATIO = 3.0
OVERALL_SHOWN = ("accuracy", "macro_f1", "macro_auc", "loss", "examples")


def _number(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


def _header(record: dict[str, Any]) -> list[str]:
    decision = record.get("decision") or {}
    lines = [f"# Model card: version {record.get('version', '?')}", ""]
    lines.append(
        f"Pushed {record.get('pushed_at', 'at an unrecorded time')} by code "
        f"`{record.get('code_version', 'unknown')}`; model fingerprint "
        f"`{(record.get('model') or {}).get('fingerprint', '?')}`."
    )
    if decision.get("action") == "rollback":
        reason = f": {decision['reason']}" if decision.get("reason") else ""
        lines.append(
            f"A rollback: the model of version {decision.get('rollback_of')}, served again in "
            f"place of version {decision.get('replaced')}{reason}. The sections below are "
            f"those of version {decision.get('rollback_of')}."
        )
    return lines


def _what_it_classifies(record: dict[str, Any]) -> list[str]:
    names = record.get("class_names") or []
    listed = ", ".join(f"`{name}`" for name in names) if names else "classes not recorded"
    return [
        "",
        "## What it classifies",
        "",
        f"Images into {len(names) or 'its'} classes: {listed}. The signature "
        f"`{features.SERVING_SIGNATURE}` takes `{features.IMAGE_KEY}` (encoded "
        f"{', '.join(e.lstrip('.') for e in features.IMAGE_EXTENSIONS)}: any size and channel "
        f"count up to the pixel cap) and returns `{features.PROBABILITIES_KEY}`, "
        f"`{features.CLASS_ID_KEY}` and `{features.CLASS_NAME_KEY}` (docs/serving.md).",
    ]


def _data(record: dict[str, Any]) -> list[str]:
    data = record.get("data") or {}
    lines = ["", "## Data", ""]
    lines.append(f"- Folder: `{data.get('folder') or 'not recorded'}`")
    lines.append(f"- Fingerprint of its files: `{data.get('input_fingerprint') or '-'}`")
    lines.append(f"- Examples: `{data.get('examples_uri') or '-'}`")
    counts = data.get("class_counts") or {}
    if counts:
        lines += ["", "| class | images |", "|---|---|"]
        lines += [f"| {name} | {count} |" for name, count in counts.items()]
    return lines


def _scores(record: dict[str, Any]) -> list[str]:
    metrics = record.get("metrics") or {}
    baseline = record.get("baseline_metrics") or {}
    decision = record.get("decision") or {}
    # What this version replaced: the served version it was judged against, or rolled back.
    replaced = decision.get("replaced") if decision.get("action") == "rollback" else None
    replaced = replaced or decision.get("baseline_version")
    lines = ["", "## Scores on the eval split", ""]
    if not metrics:
        return lines + ["Not recorded."]
    shown = [name for name in OVERALL_SHOWN if name in metrics or name in baseline]
    against = f"version {replaced}, served before" if replaced else "no served version"
    lines += [f"| metric | this version | {against} |", "|---|---|---|"]
    for name in shown:
        cells = [metrics.get(name), baseline.get(name)]
        if name == "examples":  # a count, though TFMA writes it as a float
            cells = [None if cell is None else round(cell) for cell in cells]
        lines.append(f"| {name} | {_number(cells[0])} | {_number(cells[1])} |")
    per_class = record.get("per_class") or {}
    if per_class:
        lines += [
            "",
            "| class | precision | recall | F1 | AUC | eval images |",
            "|---|---|---|---|---|---|",
        ]
        for name, scores in per_class.items():
            cells = [scores.get(key) for key in ("precision", "recall", "f1", "auc", "support")]
            lines.append(f"| {name} | " + " | ".join(_number(cell) for cell in cells) + " |")
    return lines


def _decision(record: dict[str, Any]) -> list[str]:
    decision = record.get("decision") or {}
    gate = decision.get("gate") or {}
    if decision.get("action") != "push" or not gate:
        return []
    rule = (
        f"`{gate.get('metric')}` at least {gate.get('floor')}"
        if gate.get("metric") != "loss"
        else f"`loss` at most {gate.get('floor')}"
    )
    compared = (
        f", and not worse than version {decision['baseline_version']}'s by more than "
        f"{gate.get('tolerance')}"
        if decision.get("baseline_version")
        else " (no served version to compare with)"
    )
    return ["", "## The gate's decision", "", f"Blessed: {rule}{compared}."]


def _training(record: dict[str, Any]) -> list[str]:
    trainer = (record.get("config") or {}).get("trainer") or {}
    settings = trainer.get("settings") or {}
    if not trainer:
        return ["", "## Training", "", "Not recorded."]
    lines = ["", "## Training", ""]
    lines.append(
        f"- `{settings.get('backbone')}` (width {settings.get('backbone_alpha')}) at "
        f"{settings.get('image_size')} px, from weights `{settings.get('weights')}`"
    )
    lines.append(
        f"- Strategy: {trainer.get('kept') or trainer.get('strategy')}"
        + (f" ({trainer['kept_because']})" if trainer.get("kept_because") else "")
    )
    lines.append(
        f"- {trainer.get('train_examples', '?')} training images; "
        f"{trainer.get('epochs_run', '?')} epochs run, best epoch {trainer.get('best_epoch', '?')}"
    )
    regularizers = dict(trainer.get("regularizers") or {})
    augmentation = regularizers.pop("augmentation", None) or {}
    shown = [f"{name} {value}" for name, value in regularizers.items() if value not in (None, 0)]
    if augmentation:
        layers = [n if v is True else f"{n} {v}" for n, v in augmentation.items()]
        shown.append(f"augmentation ({', '.join(layers)})")
    if shown:
        lines.append(f"- Regularization: {', '.join(shown)}")
    if trainer.get("tuned_hyperparameters"):
        lines.append(f"- Tuned by the Tuner: {trainer['tuned_hyperparameters']}")
    return lines


def known_limits(record: dict[str, Any]) -> list[str]:
    """What the record shows this model does badly or cannot be trusted on."""
    limits = []
    per_class = record.get("per_class") or {}
    few = [name for name, s in per_class.items() if (s.get("support") or 0) < FEW_EVAL_IMAGES]
    if few:
        limits.append(
            f"Fewer than {FEW_EVAL_IMAGES} eval images for {', '.join(few)}: their per-class "
            f"scores are noisy (one image moves recall by more than {100 / FEW_EVAL_IMAGES:g} "
            "points)."
        )
    counts = {k: v for k, v in ((record.get("data") or {}).get("class_counts") or {}).items() if v}
    if counts and max(counts.values()) > IMBALANCE_RATIO * min(counts.values()):
        largest = max(counts, key=counts.get)
        smallest = min(counts, key=counts.get)
        limits.append(
            f"Imbalanced classes: {largest} has {counts[largest]} images, {smallest} "
            f"{counts[smallest]}; accuracy mostly reflects the large classes (see the macro F1)."
        )
    recalls = {name: s["recall"] for name, s in per_class.items() if s.get("recall") is not None}
    if recalls:
        weakest = min(recalls, key=recalls.get)
        limits.append(f"Weakest class: {weakest}, recall {recalls[weakest]:.2f} on the eval split.")
    limits.append(
        "Scored on images from the same folder as the training images: on other sources "
        "(another camera, scanner or season) it is unmeasured."
    )
    return limits


def render(record: dict[str, Any]) -> str:
    """The card for a version's full record (with its number and push time)."""
    lines = _header(record)
    lines += _what_it_classifies(record)
    lines += _data(record)
    lines += _scores(record)
    lines += _decision(record)
    lines += _training(record)
    lines += ["", "## Known limits", ""] + [f"- {limit}" for limit in known_limits(record)]
    return "\n".join(lines) + "\n"
