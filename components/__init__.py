"""One package per pipeline stage, each holding everything that stage runs (its custom
component and executor, its user code, its tests): example_gen, snapshot, validation,
transform, trainer, evaluator, registry. features.py is the data contract they share; common/
the helpers more than one uses."""
