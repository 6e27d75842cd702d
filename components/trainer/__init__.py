"""The Trainer's user code: the model (model, weights_file), how it trains (training: run_fn;
fine_tuning: which strategy and what it unfreezes; head_fit: the head on frozen features),
its settings (training_config; hyperparameters, which the Tuner searches), the devices it runs on,
the serving export, the training report, and make pretrain's run_fn (source_task)."""

# The stock TFX Trainer, given this id in both pipelines (the GPU request is keyed on it).
TRAINER_NODE_ID = "Trainer"
