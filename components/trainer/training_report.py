"""What a training run leaves beside the model: per-epoch history, learning curves, the config.

All in the Trainer's model_run folder (with TensorBoard's logs), where TFX users look first:
- history.json: per-epoch train/validation loss and accuracy of both phases, the epoch kept;
- learning_curves.png: train against validation, the over/underfitting picture;
- effective_config.json: the strategy chosen and why, what was frozen, which regularizers and
  augmentations were on.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Any

import tensorflow as tf
import tf_keras as keras

from components.common import plots
from components.common.artifact_json import write_json
from components.trainer.fine_tuning import FineTunePlan
from components.trainer.training_config import TrainingConfig
from components.transform.augmentation_spec import AugmentationSpec

HISTORY_FILE = "history.json"
CURVES_FILE = "learning_curves.png"
EFFECTIVE_CONFIG_FILE = "effective_config.json"


def lowest_finite(losses: list[float]) -> float:
    """The lowest finite loss; a diverged (NaN or infinite) epoch never counts as best, as
    Keras's EarlyStopping never takes one for its best."""
    return min((loss for loss in losses if math.isfinite(loss)), default=math.inf)


def kept_scores(history: keras.callbacks.History, selects_best: bool) -> tuple[int, float, float]:
    """(index of the epoch whose weights a phase keeps, its validation loss and accuracy): the
    lowest finite validation loss with early stopping (as Keras restores), else the last."""
    losses = [float(v) for v in history.history["val_loss"]]
    best = lowest_finite(losses)
    kept = losses.index(best) if selects_best and math.isfinite(best) else len(losses) - 1
    return kept, losses[kept], float(history.history["val_accuracy"][kept])


@dataclass
class TrainingRecord:
    """Per-epoch metrics of both phases and where phase 2 began (None: there was none)."""

    history: dict[str, list[float]] = field(default_factory=dict)
    fine_tune_from_epoch: int | None = None
    kept_phase: int = 1
    trainable_backbone_layers: int = 0
    trainable_batch_norms: int = 0
    # Whether the kept weights are the best epoch's (early stopping) or simply the last's.
    selects_best: bool = True
    # The Tuner's best values this run trained with (empty without the Tuner stage).
    tuned_hyperparameters: dict[str, Any] = field(default_factory=dict)
    # What each phase reached on the validation part: the strategy it amounts to, and the
    # validation loss and accuracy of the weights it would keep.
    candidates: list[dict[str, Any]] = field(default_factory=list)
    # The augmentation training applied (Transform's spec, less what the flip check removed).
    augmentation: AugmentationSpec = field(default_factory=AugmentationSpec.off)
    # What a head on each depth of the backbone reached (training.resolve_feature_layer).
    feature_layer_scores: dict[str, Any] = field(default_factory=dict)
    # What the head measured of each augmentation group (training.fit_head_on_features).
    augmentation_checks: dict[str, Any] = field(default_factory=dict)
    # The head's dropout rate training kept (None: as set), and what its check measured.
    dropout: float | None = None
    dropout_check: dict[str, Any] = field(default_factory=dict)
    # Phase 2 against phase 1, image by image on the validation part (training.fine_tuning_check).
    fine_tune_check: dict[str, Any] = field(default_factory=dict)

    def extend(self, history: keras.callbacks.History) -> None:
        for key, values in history.history.items():
            self.history.setdefault(key, []).extend(float(v) for v in values)

    def tried(self, strategy: str, history: keras.callbacks.History, selects_best: bool) -> None:
        """Records what a phase reached: its best epoch's scores, or its last's."""
        _, loss, accuracy = kept_scores(history, selects_best)
        self.candidates.append(
            {
                "strategy": strategy,
                "epochs": len(history.history["val_loss"]),
                "val_loss": round(loss, 4),
                "val_accuracy": round(accuracy, 4),
            }
        )

    @property
    def kept_strategy(self) -> str:
        """What the kept weights amount to: phase 1's strategy, or phase 2's."""
        return self.candidates[self.kept_phase - 1]["strategy"] if self.candidates else ""

    def kept_because(self) -> str:
        """Why the kept weights won, in words, with the scores compared."""
        if len(self.candidates) < 2:
            return "the only phase"
        if not self.selects_best:
            return "early stopping is off: the last phase's last epoch stays"
        head, tuned = self.candidates
        kept, other = (tuned, head) if self.kept_phase == 2 else (head, tuned)
        check = self.fine_tune_check
        clearly = "beyond" if check["kept"] else "not beyond"
        return (
            f"validation loss {kept['val_loss']:.4f} (accuracy {kept['val_accuracy']:.4f}) "
            f"against {other['val_loss']:.4f} ({other['val_accuracy']:.4f}) of "
            f"{other['strategy']}; per image, fine-tuning {check['better_by']:+.4f} better, "
            f"{clearly} the noise {check['noise']:.4f}"
        )

    @property
    def epochs_run(self) -> int:
        return len(self.history.get("loss", []))

    def best_epoch(self) -> int:
        """1-based epoch whose weights the model keeps: the lowest validation loss, or the last
        epoch when early stopping is off."""
        losses = self.history.get("val_loss", [])
        if not self.selects_best:
            return len(losses)
        best = lowest_finite(losses)
        return 1 + losses.index(best) if math.isfinite(best) else 0


def regularizers(
    config: TrainingConfig, augmentation: AugmentationSpec, dropout: float | None = None
) -> dict[str, Any]:
    """Every regularizer and whether (and how strongly) it was on; `dropout` the rate the
    dropout check kept, when it ran."""
    decoupled = config.weight_decay_mode == "decoupled"
    return {
        "dropout": config.dropout if dropout is None else dropout,
        "l2_on_head": 0.0 if decoupled else config.weight_decay,
        "decoupled_weight_decay": config.weight_decay if decoupled else 0.0,
        "l1_on_head": config.l1,
        "l2_sp_in_fine_tuning": config.l2_sp,
        "label_smoothing": config.label_smoothing,
        "lr_schedule": config.lr_schedule,
        "early_stopping_patience": (
            config.early_stopping_patience if config.early_stopping else None
        ),
        # Transform's spec, as the Trainer read it: only what was on, with its strength.
        "augmentation": {name: value for name, value in augmentation.to_dict().items() if value},
    }


def effective_config(
    record: TrainingRecord,
    config: TrainingConfig,
    plan: FineTunePlan,
    model: keras.Model,
    train_examples: int,
) -> dict[str, Any]:
    trainable = sum(int(tf.size(w)) for w in model.trainable_weights)
    total = sum(int(tf.size(w)) for w in model.weights)
    return {
        "strategy": plan.strategy,
        "strategy_reason": plan.reason,
        "kept": record.kept_strategy,
        "kept_because": record.kept_because(),
        "candidates": record.candidates,
        "fine_tune_check": record.fine_tune_check,
        "feature_layer": config.feature_layer,
        "feature_layer_scores": record.feature_layer_scores,
        "train_examples": train_examples,
        "fine_tuned_backbone_layers": record.trainable_backbone_layers,
        "fine_tuned_batch_norm_layers": record.trainable_batch_norms,
        "parameters": {"trainable_at_end": trainable, "total": total},
        "regularizers": regularizers(config, record.augmentation, record.dropout),
        "dropout_check": record.dropout_check,
        "augmentation_checks": record.augmentation_checks,
        "epochs_run": record.epochs_run,
        "best_epoch": record.best_epoch(),
        "tuned_hyperparameters": record.tuned_hyperparameters,
        "settings": config.to_dict(),
    }


def plot_learning_curves(record: TrainingRecord, path: str) -> None:
    """Loss and accuracy, train against validation, with the phase boundary and the kept epoch."""
    plt = plots.pyplot()
    epochs = range(1, record.epochs_run + 1)
    figure, axes = plt.subplots(1, 2, figsize=(10, 4), constrained_layout=True)
    for axis, metric in zip(axes, ("loss", "accuracy"), strict=True):
        axis.plot(epochs, record.history.get(metric, []), "o-", label="train")
        axis.plot(epochs, record.history.get(f"val_{metric}", []), "o-", label="validation")
        if record.fine_tune_from_epoch:
            axis.axvline(
                record.fine_tune_from_epoch - 0.5, color="grey", ls="--", label="fine-tuning"
            )
        axis.axvline(record.best_epoch(), color="green", ls=":", label="kept")
        axis.set(xlabel="epoch", title=metric)
        axis.legend()
    plots.save_png(figure, path)


def write(
    directory: str,
    record: TrainingRecord,
    config: TrainingConfig,
    plan: FineTunePlan,
    model: keras.Model,
    train_examples: int,
) -> None:
    tf.io.gfile.makedirs(directory)
    write_json(
        os.path.join(directory, HISTORY_FILE),
        {
            "epochs_run": record.epochs_run,
            "best_epoch": record.best_epoch(),
            "fine_tune_from_epoch": record.fine_tune_from_epoch,
            "kept_phase": record.kept_phase,
            "history": record.history,
        },
    )
    write_json(
        os.path.join(directory, EFFECTIVE_CONFIG_FILE),
        effective_config(record, config, plan, model, train_examples),
    )
    plot_learning_curves(record, os.path.join(directory, CURVES_FILE))
