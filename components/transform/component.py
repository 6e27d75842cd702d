"""AugmentingTransform: TFX's Transform, owning the augmentation spec as well as normalization.

Normalization is deterministic and runs everywhere (Trainer, Evaluator, serving) through the
transform graph; augmentation is random and must touch training batches only. Both are
decisions about how images are prepared, so both are configured here and travel in one
artifact: the transform graph, with `augmentation.json` beside it (see executor.py).
"""

from __future__ import annotations

from tfx.components import Transform
from tfx.dsl.components.base import executor_spec
from tfx.types import Channel

from components import features
from components.transform import TRANSFORM_NODE_ID, executor, preprocessing
from components.transform.augmentation_spec import AugmentationSpec


class _AugmentingTransform(Transform):
    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(executor.Executor)


def AugmentingTransform(  # noqa: N802 - named like the TFX components it stands beside
    examples: Channel,
    schema: Channel,
    preprocessing_fn: str,
    image_size: int,
    augmentation: AugmentationSpec,
    max_megapixels: float = features.DEFAULT_MAX_MEGAPIXELS,
) -> Transform:
    """Transform with `preprocessing_fn` at `image_size`, refusing images above
    `max_megapixels` (in its graph, so serving does too), carrying `augmentation` for
    training."""
    return _AugmentingTransform(
        examples=examples,
        schema=schema,
        preprocessing_fn=preprocessing_fn,
        custom_config={
            preprocessing.IMAGE_SIZE_KEY: image_size,
            preprocessing.MAX_MEGAPIXELS_KEY: max_megapixels,
            executor.AUGMENTATION_KEY: augmentation.to_dict(),
        },
        # The Trainer applies the transform graph itself and caches the result in memory:
        # materializing float images would write ~110 KB per 96 px image to disk.
        materialize=False,
        disable_statistics=True,
        # The analyzer cache serves a later run that analyzes overlapping data spans, if the
        # pipeline feeds it back; ours re-analyzes the whole train split every run.
        disable_analyzer_cache=True,
    ).with_id(TRANSFORM_NODE_ID)
