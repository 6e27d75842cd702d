"""create_pipeline(config): the whole DAG, pure, the same for every runner.

[DataSnapshot, on Kubeflow] -> ImageExampleGen -> ImportSchemaGen (curated) -> StatisticsGen ->
ExampleValidator -> ValidationGate (schema, and drift from the served version's training data;
BaselineModel reads what is served) -> Transform -> [Tuner] -> Trainer -> Evaluator (vs
the served version) -> Pusher (to the versioned registry in the push destination).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable

from kfp.pipeline_spec import pipeline_spec_pb2
from ml_metadata.proto import metadata_store_pb2
from tfx.components import (
    ExampleValidator,
    FileBasedExampleGen,
    StatisticsGen,
    Trainer,
)
from tfx.components.schema_gen.import_schema_gen.component import ImportSchemaGen
from tfx.dsl.compiler import compiler
from tfx.orchestration import data_types
from tfx.orchestration.pipeline import Pipeline
from tfx.proto.orchestration import pipeline_pb2
from tfx.proto.trainer_pb2 import EvalArgs, TrainArgs

from components import features
from components.evaluator import EVALUATOR_NODE_ID, evaluation
from components.evaluator.component import Evaluator
from components.example_gen.component import ImageExampleGen, ImageExampleGenFromSnapshot
from components.registry.component import (
    BASELINE_NODE_ID,
    PUSHER_NODE_ID,
    BaselineModel,
    RegistryPusher,
)
from components.snapshot.component import DATA_SNAPSHOT_NODE_ID, DataSnapshot
from components.trainer import TRAINER_NODE_ID, source_task, training
from components.transform import preprocessing
from components.transform.augmentation_spec import AugmentationSpec
from components.transform.component import AugmentingTransform
from components.tuner import TUNER_NODE_ID, tuning
from components.tuner.component import ImageTuner
from components.validation.component import ValidationGate
from pipeline.config import (
    DATA_ROOT_PARAMETER,
    TRAINING_PARAMETER,
    PipelineConfig,
    PretrainPipelineConfig,
    TrainerResources,
)

ResourceSpec = pipeline_spec_pb2.PipelineDeploymentConfig.PipelineContainerSpec.ResourceSpec

# Nodes whose output depends on the world outside their inputs (the data folder now, what is
# served now), so a cache hit would be stale. TFX 1.16 has no per-node cache switch in its DSL;
# the runners turn caching off for these in the compiled pipeline (compile_ir, and the Kubeflow
# compile).
ALWAYS_RUN = (DATA_SNAPSHOT_NODE_ID, BASELINE_NODE_ID)


def import_path(function: Callable) -> str:
    """The dotted path TFX imports a user function by, taken from the function itself."""
    return f"{function.__module__}.{function.__qualname__}"


def resource_spec(resources: TrainerResources) -> ResourceSpec:
    """The Trainer's limits as KFP's container ResourceSpec (TFX's platform config for a node)."""
    spec = ResourceSpec(cpu_limit=resources.cpu, memory_limit=resources.memory_gb)
    if resources.gpus:
        spec.accelerator.type = resources.gpu_resource
        spec.accelerator.count = resources.gpus
    return spec


def run_parameter_defaults(config: PipelineConfig) -> dict[str, str]:
    """The run parameters a Kubeflow compile declares, with this config's values."""
    return {
        DATA_ROOT_PARAMETER: config.data_root,
        TRAINING_PARAMETER: json.dumps(config.training.to_dict(), sort_keys=True),
    }


def run_parameter(config: PipelineConfig, name: str) -> data_types.RuntimeParameter:
    return data_types.RuntimeParameter(
        name=name, ptype=str, default=run_parameter_defaults(config)[name]
    )


def data_steps(config: PipelineConfig) -> tuple[DataSnapshot | None, FileBasedExampleGen]:
    """ImageExampleGen, preceded on Kubeflow by DataSnapshot.

    Locally, TFX's ExampleGen driver fingerprints the folder (count, sizes, times) and the
    runner's fingerprint adds the files' paths, so the cache follows the data and the labels.
    KFP's open-source backend runs no driver and keys its cache on parameters, so there
    DataSnapshot lists the data when the run starts (taking the latest snapshot if asked) and
    hands ExampleGen the folder and its fingerprint as parameters.
    """
    if not config.kubeflow:
        example_gen = ImageExampleGen(
            data_root=config.data_root,
            input_format=config.input_format,
            eval_percent=config.eval_percent,
            max_bad_file_fraction=config.max_bad_file_fraction,
            max_megapixels=config.max_megapixels,
            fingerprint=config.data_fingerprint,
        ).with_beam_pipeline_args(list(config.ingestion_beam_args))
        return None, example_gen
    snapshot = DataSnapshot(
        data_root=run_parameter(config, DATA_ROOT_PARAMETER),
        input_format=config.input_format,
        max_bad_file_fraction=config.max_bad_file_fraction,
        max_megapixels=config.max_megapixels,
        latest=config.latest_snapshot,
    ).with_id(DATA_SNAPSHOT_NODE_ID)
    example_gen = ImageExampleGenFromSnapshot(
        snapshot, input_format=config.input_format, eval_percent=config.eval_percent
    )
    return snapshot, example_gen


def create_components(config: PipelineConfig) -> list:
    """Every node of the pipeline, wired; in topological order."""
    snapshot, example_gen = data_steps(config)
    examples = example_gen.outputs["examples"]
    schema_gen = ImportSchemaGen(schema_file=config.schema_path)
    schema = schema_gen.outputs["schema"]
    # Given the schema, TFDV takes the image feature for image bytes (its image_domain): their
    # lengths only, not the top values and unique count of every image's bytes as strings.
    statistics_gen = StatisticsGen(examples=examples, schema=schema)
    example_validator = ExampleValidator(
        statistics=statistics_gen.outputs["statistics"], schema=schema
    )
    # The served version, read from the push destination (no Resolver: see components/registry).
    # The gate checks drift against its training data; the Evaluator, the candidate against it.
    baseline = BaselineModel(serving_dir=config.serving_dir).with_id(BASELINE_NODE_ID)
    validation_gate = ValidationGate(
        anomalies=example_validator.outputs["anomalies"],
        statistics=statistics_gen.outputs["statistics"],
        schema=schema,
        baseline=baseline.outputs["baseline"],
        examples=examples,
        check_drift=config.check_drift,
        accept_class_change=config.accept_class_change,
    )

    transform = AugmentingTransform(
        examples=examples,
        schema=schema,
        preprocessing_fn=import_path(preprocessing.preprocessing_fn),
        image_size=config.training.image_size,
        augmentation=config.augmentation,
        max_megapixels=config.max_megapixels,
    )
    transform.add_upstream_node(validation_gate)

    # The training settings: on Kubeflow a run parameter, so each run may set its own.
    training_settings = (
        run_parameter(config, TRAINING_PARAMETER) if config.kubeflow else config.training.to_dict()
    )
    tuner = None
    if config.tune:
        # Trials score on a slice of the train split (see tuning.py); eval stays unseen.
        tuner = ImageTuner(
            tuner_fn=import_path(tuning.tuner_fn),
            examples=examples,
            transform_graph=transform.outputs["transform_graph"],
            schema=schema,
            train_args=TrainArgs(splits=[features.TRAIN_SPLIT]),
            eval_args=EvalArgs(splits=[features.TRAIN_SPLIT]),
            training_settings=training_settings,
            max_trials=config.tuner_trials,
        ).with_id(TUNER_NODE_ID)
    trainer = Trainer(
        run_fn=import_path(training.run_fn),
        examples=examples,
        transform_graph=transform.outputs["transform_graph"],
        schema=schema,
        hyperparameters=tuner.outputs["best_hyperparameters"] if tuner else None,
        train_args=TrainArgs(splits=[features.TRAIN_SPLIT]),
        eval_args=EvalArgs(splits=[features.EVAL_SPLIT]),
        # TFX's Trainer takes a JSON string run parameter in place of the dict.
        custom_config=training_settings,
    ).with_id(TRAINER_NODE_ID)
    if config.trainer_resources:
        trainer.with_platform_config(resource_spec(config.trainer_resources))

    evaluator = Evaluator(
        examples=examples,
        model=trainer.outputs["model"],
        baseline_model=baseline.outputs["baseline"],
        eval_config=evaluation.eval_config(config.gate),
        example_splits=[features.EVAL_SPLIT],
    ).with_id(EVALUATOR_NODE_ID)
    pusher = RegistryPusher(
        model=trainer.outputs["model"],
        model_blessing=evaluator.outputs["blessing"],
        evaluation=evaluator.outputs["evaluation"],
        baseline=baseline.outputs["baseline"],
        examples=examples,
        statistics=statistics_gen.outputs["statistics"],
        model_run=trainer.outputs["model_run"],
        serving_dir=config.serving_dir,
        pipeline_config=json.dumps(dataclasses.asdict(config), sort_keys=True),
    ).with_id(PUSHER_NODE_ID)
    components = [
        snapshot,
        example_gen,
        schema_gen,
        statistics_gen,
        example_validator,
        baseline,
        validation_gate,
        transform,
        tuner,
        trainer,
        evaluator,
        pusher,
    ]
    return [component for component in components if component is not None]


def sqlite_metadata(path: str) -> metadata_store_pb2.ConnectionConfig:
    """TFX's sqlite_metadata_connection_config without its mkdir: the runner makes folders."""
    config = metadata_store_pb2.ConnectionConfig()
    config.sqlite.filename_uri = path
    config.sqlite.connection_mode = (
        metadata_store_pb2.SqliteMetadataSourceConfig.READWRITE_OPENCREATE
    )
    return config


def create_pipeline(config: PipelineConfig) -> Pipeline:
    """The TFX pipeline for `config`; reads no environment, touches no file."""
    metadata = sqlite_metadata(config.metadata_path) if config.metadata_path else None
    return Pipeline(
        pipeline_name=config.pipeline_name,
        pipeline_root=config.pipeline_root,
        components=create_components(config),
        enable_cache=config.enable_cache,
        metadata_connection_config=metadata,
        beam_pipeline_args=list(config.beam_pipeline_args),
    )


def create_pretrain_pipeline(config: PretrainPipelineConfig) -> Pipeline:
    """`make pretrain`'s pipeline: ImageExampleGen -> Transform -> Trainer (source_task.run_fn).

    The same ingestion and normalization as the main pipeline, on the generated source shapes,
    without augmentation (the source task has data enough) and without validation or a gate
    (the data is generated, and the weights are judged by the target task that uses them).
    Its one product is the Trainer's model folder, holding the backbone's weights.
    """
    pretrain = config.pretrain
    example_gen = ImageExampleGen(
        data_root=config.source_root, eval_percent=pretrain.held_out_percent
    ).with_beam_pipeline_args(list(config.ingestion_beam_args))
    examples = example_gen.outputs["examples"]
    # The curated schema fits the source images too: the same features, made the same way.
    schema_gen = ImportSchemaGen(schema_file=config.schema_path)
    transform = AugmentingTransform(
        examples=examples,
        schema=schema_gen.outputs["schema"],
        preprocessing_fn=import_path(preprocessing.preprocessing_fn),
        image_size=pretrain.image_size,
        augmentation=AugmentationSpec.off(),
    )
    trainer = Trainer(
        run_fn=import_path(source_task.run_fn),
        examples=examples,
        transform_graph=transform.outputs["transform_graph"],
        train_args=TrainArgs(splits=[features.TRAIN_SPLIT]),
        eval_args=EvalArgs(splits=[features.EVAL_SPLIT]),
        custom_config=pretrain.to_dict(),
    ).with_id(TRAINER_NODE_ID)
    return Pipeline(
        pipeline_name=config.pipeline_name,
        pipeline_root=config.pipeline_root,
        components=[example_gen, schema_gen, transform, trainer],
        enable_cache=config.enable_cache,
        metadata_connection_config=sqlite_metadata(config.metadata_path),
        beam_pipeline_args=list(config.beam_pipeline_args),
    )


def compile_ir(pipeline: Pipeline) -> pipeline_pb2.Pipeline:
    """The pipeline's IR for LocalDagRunner.run_with_ir, with caching off for ALWAYS_RUN."""
    ir = compiler.Compiler().compile(pipeline)
    for node in ir.nodes:
        if node.pipeline_node.node_info.id in ALWAYS_RUN:
            node.pipeline_node.execution_options.caching_options.enable_cache = False
    return ir
