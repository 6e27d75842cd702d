"""The optional Tuner stage's tuner_fn: KerasTuner random search with the Trainer's own code.

Off by default; `TUNE=on` adds the Tuner (component.py) before the Trainer, which then trains
with the best values found (components/trainer/hyperparameters.py has the four knobs). Each
trial is a whole two-phase training run (head, then fine-tuning), because unfreeze depth only
shows its effect in phase 2, so a trial is as honest as the real thing and costs as much.

Trials are scored by validation loss on the validation part of the *training* split, the
Trainer's own (training.split_validation), not on the eval split: the Evaluator blesses on the
eval split, and a search that had already picked the values that look best there would make
that blessing optimistic.
"""

from __future__ import annotations

import json
import math
from typing import Any

import keras_tuner
import tensorflow_transform as tft
import tf_keras as keras
from absl import logging
from keras_tuner.src.engine import base_tuner
from tfx.components.trainer.fn_args_utils import FnArgs
from tfx.components.tuner.component import TunerFnResult

from components.common import tracing
from components.example_gen.class_names import examples_dir_of_split_pattern, read_class_names
from components.trainer import devices, fine_tuning, hyperparameters, training
from components.trainer.model import build_model
from components.trainer.training_config import TrainingConfig
from components.transform import augmentation
from components.tuner import MAX_TRIALS_KEY

OBJECTIVE = keras_tuner.Objective("val_loss", direction="min")


class TransferTuner(base_tuner.BaseTuner):
    """Tries hyperparameter values by training with them, exactly as the Trainer would."""

    def __init__(
        self,
        config: TrainingConfig,
        num_classes: int,
        train_examples: int,
        max_trials: int,
        directory: str,
    ):
        oracle = keras_tuner.oracles.RandomSearchOracle(
            objective=OBJECTIVE,
            max_trials=max_trials,
            hyperparameters=hyperparameters.search_space(),
            allow_new_entries=False,
            tune_new_entries=False,
            seed=config.seed,
        )
        super().__init__(oracle, directory=directory, project_name="transfer", overwrite=True)
        self.config = config
        self.num_classes = num_classes
        self.train_examples = train_examples

    def run_trial(
        self, trial: keras_tuner.engine.trial.Trial, data: training.TrainingData
    ) -> dict[str, float]:
        """Trains with the trial's values; scores the weights training kept."""
        keras.backend.clear_session()  # each trial's graphs and variables go with it
        config = hyperparameters.apply(self.config, trial.hyperparameters.values)
        plan = fine_tuning.choose_strategy(config, self.train_examples, self.num_classes)
        config, _ = training.resolve_feature_layer(config, data, self.num_classes)
        with devices.distribution_strategy().scope():
            model = build_model(config, self.num_classes, data.steps_per_epoch)
            record = training.train(model, data, config, plan)
        kept = record.best_epoch()
        if not kept:  # every epoch diverged: the worst possible score, not a NaN to compare
            return {"val_loss": math.inf, "val_accuracy": 0.0}
        return {name: record.history[name][kept - 1] for name in ("val_loss", "val_accuracy")}


def tuner_fn(fn_args: FnArgs) -> TunerFnResult:
    """TFX Tuner entry point: the tuner and the data its trials train on."""
    tracing.leave_libraries_unconverted()
    settings: dict[str, Any] = dict(fn_args.custom_config or {})
    max_trials = int(settings.pop(MAX_TRIALS_KEY))
    config = TrainingConfig.from_dict(settings)
    class_names = read_class_names(examples_dir_of_split_pattern(fn_args.train_files[0]))
    tft_output = tft.TFTransformOutput(fn_args.transform_graph_path)
    batch_size = devices.global_batch_size(config.batch_size, devices.distribution_strategy())
    spec = augmentation.read_spec(fn_args.transform_graph_path)
    data = training.training_data(fn_args, tft_output, config, batch_size, spec)
    if data.fit_count < len(class_names) or data.validation_count < 1:
        raise ValueError(
            f"Too few training examples to tune on: {data.fit_count + data.validation_count} "
            f"(each trial holds out 1 in {training.HOLDOUT_EVERY} of them to score on)"
        )
    logging.info(
        "Tuning %s over %d trials: %d images to fit, %d held out to score (eval split unused)",
        ", ".join(hyperparameters.TUNED),
        max_trials,
        data.fit_count,
        data.validation_count,
    )
    # What the trials start from (on Kubeflow, this run's training_config parameter).
    logging.info("Training settings: %s", json.dumps(config.to_dict(), sort_keys=True))
    tuner = TransferTuner(config, len(class_names), data.fit_count, max_trials, fn_args.working_dir)
    return TunerFnResult(tuner=tuner, fit_kwargs={"data": data})
