"""create_pipeline: the whole DAG in order, wired as documented, touching no file."""

import json
import os

import pytest
from tfx.orchestration import data_types

from components.trainer import training
from components.trainer.training_config import TrainingConfig
from components.transform import preprocessing
from components.tuner import MAX_TRIALS_KEY
from pipeline.config import MAX_INGESTION_THREADS, TRAINING_PARAMETER, PipelineConfig
from pipeline.dag import create_pipeline, import_path

pytestmark = pytest.mark.pipeline

EXPECTED_ORDER = [
    "ImageExampleGen",
    "ImportSchemaGen",
    "StatisticsGen",
    "ExampleValidator",
    "BaselineModel",
    "ValidationGate",
    "Transform",
    "Trainer",
    "Evaluator",
    "Pusher",
]


@pytest.fixture
def config(tmp_path):
    return PipelineConfig(
        data_root=str(tmp_path / "data"),
        pipeline_root=str(tmp_path / "root"),
        serving_dir=str(tmp_path / "serving"),
        schema_path=str(tmp_path / "schema.pbtxt"),
        metadata_path=str(tmp_path / "root" / "metadata.sqlite"),
    )


def test_every_stage_is_present_in_topological_order(config):
    components = create_pipeline(config).components
    ids = [c.id for c in components]
    assert sorted(ids) == sorted(EXPECTED_ORDER)
    for position, component in enumerate(components):
        assert all(ids.index(up.id) < position for up in component.upstream_nodes), component.id
    # The data path is a chain: each stage waits on the one before it.
    chain = ["ImageExampleGen", "ExampleValidator", "ValidationGate", "Transform", "Trainer"]
    chain += ["Evaluator", "Pusher"]
    assert [i for i in ids if i in chain] == chain


def test_building_the_pipeline_writes_nothing(config, tmp_path):
    create_pipeline(config)
    assert list(tmp_path.iterdir()) == []


def test_transform_waits_for_the_validation_gate(config):
    components = {c.id: c for c in create_pipeline(config).components}
    assert "ValidationGate" in {c.id for c in components["Transform"].upstream_nodes}


def test_the_gate_checks_drift_against_the_served_versions_training_statistics(config):
    components = {c.id: c for c in create_pipeline(config).components}
    gate, pusher = components["ValidationGate"], components["Pusher"]
    assert gate.inputs["baseline"].producer_component_id == "BaselineModel"
    # What the gate compares with is what the Pusher keeps: StatisticsGen's output of a run.
    assert gate.inputs["statistics"].producer_component_id == "StatisticsGen"
    assert pusher.inputs["statistics"].producer_component_id == "StatisticsGen"
    assert gate.inputs["schema"].producer_component_id == "ImportSchemaGen"
    assert gate.exec_properties["check_drift"] is True
    unchecked = PipelineConfig(**{**config.__dict__, "check_drift": False})
    gate = {c.id: c for c in create_pipeline(unchecked).components}["ValidationGate"]
    assert gate.exec_properties["check_drift"] is False


def test_user_functions_are_referenced_by_import_path(config):
    components = {c.id: c for c in create_pipeline(config).components}
    assert components["Transform"].exec_properties["preprocessing_fn"] == (
        "components.transform.preprocessing.preprocessing_fn"
    )
    assert components["Trainer"].exec_properties["run_fn"] == "components.trainer.training.run_fn"
    assert import_path(training.run_fn) == "components.trainer.training.run_fn"
    assert import_path(preprocessing.preprocessing_fn).endswith("preprocessing_fn")


def test_pusher_is_gated_by_the_evaluator_blessing(config):
    components = {c.id: c for c in create_pipeline(config).components}
    blessing = components["Pusher"].inputs["model_blessing"]
    assert blessing.producer_component_id == "Evaluator"
    assert components["Evaluator"].inputs["baseline_model"].producer_component_id == (
        "BaselineModel"
    )
    assert components["BaselineModel"].exec_properties["serving_dir"] == config.serving_dir
    assert components["Pusher"].exec_properties["serving_dir"] == config.serving_dir


def test_only_the_baseline_lookup_skips_the_cache(config):
    from pipeline.dag import compile_ir

    ir = compile_ir(create_pipeline(config))

    caching = {
        node.pipeline_node.node_info.id: node.pipeline_node.execution_options.caching_options
        for node in ir.nodes
    }
    assert not caching.pop("BaselineModel").enable_cache
    assert all(options.enable_cache for options in caching.values())


def test_the_tuner_is_off_by_default_and_feeds_the_trainer_when_on(config):
    components = {c.id: c for c in create_pipeline(config).components}
    assert "Tuner" not in components
    assert "hyperparameters" not in components["Trainer"].inputs

    tuned = PipelineConfig(**{**config.__dict__, "tune": True, "tuner_trials": 3})
    components = {c.id: c for c in create_pipeline(tuned).components}
    tuner = components["Tuner"]
    assert tuner.exec_properties["tuner_fn"] == "components.tuner.tuning.tuner_fn"
    assert tuner.inputs["transform_graph"].producer_component_id == "Transform"
    best = components["Trainer"].inputs["hyperparameters"]
    assert best.producer_component_id == "Tuner"
    assert best.output_key == "best_hyperparameters"
    assert tuner.exec_properties[MAX_TRIALS_KEY] == 3
    settings = json.loads(tuner.exec_properties["custom_config"])
    assert TrainingConfig.from_dict(settings) == config.training


def test_on_kubeflow_the_tuner_and_the_trainer_read_the_same_training_run_parameter(config):
    on_kubeflow = PipelineConfig(**{**config.__dict__, "kubeflow": True, "tune": True})
    components = {c.id: c for c in create_pipeline(on_kubeflow).components}

    tuner_settings = components["Tuner"].exec_properties["custom_config"]
    trainer_settings = components["Trainer"].exec_properties["custom_config"]
    assert isinstance(tuner_settings, data_types.RuntimeParameter)
    assert tuner_settings.name == trainer_settings.name == TRAINING_PARAMETER


def test_the_pretraining_pipeline_reuses_ingestion_and_transform_without_augmentation(tmp_path):
    from components.transform import executor
    from components.transform.augmentation_spec import AugmentationSpec
    from pipeline import pretrain
    from pipeline.dag import create_pretrain_pipeline

    config = pretrain.pipeline_config(pretrain.PretrainConfig(image_size=48), str(tmp_path))
    components = create_pretrain_pipeline(config).components

    assert [c.id for c in components] == [
        "ImageExampleGen",
        "ImportSchemaGen",
        "Transform",
        "Trainer",
    ]
    by_id = {c.id: c for c in components}
    assert by_id["Trainer"].exec_properties["run_fn"] == "components.trainer.source_task.run_fn"
    assert executor.spec_from_exec_properties(by_id["Transform"].exec_properties) == (
        AugmentationSpec.off()
    )
    assert json.loads(by_id["Trainer"].exec_properties["custom_config"])["image_size"] == 48
    assert list(tmp_path.iterdir()) == []


def test_the_kubeflow_job_has_only_container_executors_and_reads_the_baseline_uncached(config):
    from pipeline.kubeflow_runner import compile_job

    job = compile_job(create_pipeline(config), image="registry.example/pipeline:test")

    executors = job["pipelineSpec"]["deploymentSpec"]["executors"]
    # Open-source KFP v2 runs container and importer executors only; a TFX Resolver node
    # would compile to a `resolver` executor here and fail on the cluster.
    kinds = {name: set(spec) for name, spec in executors.items()}
    assert all(kind <= {"container", "importer"} for kind in kinds.values()), kinds
    assert len(executors) == len(EXPECTED_ORDER)
    tasks = job["pipelineSpec"]["root"]["dag"]["tasks"]
    assert sorted(tasks) == sorted(EXPECTED_ORDER)
    assert tasks["BaselineModel"]["cachingOptions"] == {"enableCache": False}
    assert tasks["Trainer"]["cachingOptions"] == {"enableCache": True}


def beam_options(component) -> dict:
    """The direct runner's options as Beam parses a component's arguments (the last given
    wins, so a component's own come after the pipeline's)."""
    from apache_beam.options.pipeline_options import DirectOptions, PipelineOptions

    options = PipelineOptions(component.executor_spec.beam_pipeline_args).view_as(DirectOptions)
    return {"mode": options.direct_running_mode, "workers": options.direct_num_workers}


def test_ingestion_reads_in_threads_locally_and_the_other_data_steps_in_one_worker(config):
    components = {c.id: c for c in create_pipeline(config).components}

    threads = min(len(os.sched_getaffinity(0)), MAX_INGESTION_THREADS)
    assert beam_options(components["ImageExampleGen"]) == {
        "mode": "multi_threading",
        "workers": threads,
    }
    for step in ("StatisticsGen", "Transform", "Evaluator"):
        assert beam_options(components[step]) == {"mode": "in_memory", "workers": 1}, step
