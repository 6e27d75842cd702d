"""The optional Tuner stage: TFX's Tuner with this pipeline's search (tuning: tuner_fn), whose
training settings may be a Kubeflow run parameter, as the Trainer's are (component)."""

# Given this id in the pipeline, as TFX's own Tuner would be named.
TUNER_NODE_ID = "Tuner"
# The trial count, beside the training settings in the custom config tuner_fn reads.
MAX_TRIALS_KEY = "max_trials"
