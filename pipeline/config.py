"""The one configuration object, built at the entry point and passed down, never read from env."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

from components import features
from components.evaluator.blessing import Gate
from components.example_gen import DEFAULT_EVAL_PERCENT, DEFAULT_MAX_BAD_FILE_FRACTION
from components.trainer.training_config import PretrainConfig, TrainingConfig
from components.transform.augmentation_spec import AugmentationSpec

DEFAULT_PIPELINE_NAME = "image-classifier"
# Where `make local` writes (pipeline root, metadata, pushed models, logs) unless told otherwise.
DEFAULT_OUTPUTS = "outputs"


def metadata_path_in(pipeline_root: str) -> str:
    """The ML Metadata store kept inside a pipeline root, unless one is given elsewhere."""
    return os.path.join(pipeline_root, "metadata.sqlite")


@dataclass(frozen=True)
class OutputLayout:
    """What a run writes under one outputs folder (`make local`'s OUTPUTS, `make pretrain`'s
    pretrained dir): every command and experiment finds a run's files through this, never by
    joining the names itself."""

    root: str

    @property
    def pipeline_root(self) -> str:
        return os.path.join(self.root, "pipeline")

    @property
    def metadata_path(self) -> str:
        return metadata_path_in(self.pipeline_root)

    @property
    def serving_dir(self) -> str:
        return os.path.join(self.root, "serving")

    @property
    def logs_dir(self) -> str:
        return os.path.join(self.root, "logs")

    @property
    def kubeflow_local_dir(self) -> str:
        """`make kubeflow-local`'s compiled spec, its step cache and each run's step outputs."""
        return os.path.join(self.root, "kubeflow-local")

    @property
    def summary_path(self) -> str:
        """The last run's summary as JSON."""
        return os.path.join(self.root, "last_run.json")


def registry_folder(serving_dir: str | None, outputs: str | None) -> str:
    """SERVING_DIR if given, else the serving folder of OUTPUTS (`make local`'s default)."""
    return serving_dir or OutputLayout(outputs or DEFAULT_OUTPUTS).serving_dir


# Where deploy/Dockerfile puts the project inside the pipeline image, and so the curated
# schema the compiled pipeline reads there.
IMAGE_PROJECT_DIR = "/pipeline"
IMAGE_SCHEMA = f"{IMAGE_PROJECT_DIR}/schemas/schema.pbtxt"
# The compiled Kubeflow pipeline `make compile` writes and `make deploy` uploads.
DEFAULT_PACKAGE = os.path.join("build", "pipeline.yaml")
# Run parameters (KubeflowConfig): the names a Kubeflow run or the KFP UI sets them by.
DATA_ROOT_PARAMETER = "data_root"
TRAINING_PARAMETER = "training_config"
# Where `make pretrain` leaves backbone weights, one file per architecture (weights_filename).
DEFAULT_PRETRAINED_DIR = "data/pretrained"
# The curated schema every local pipeline validates against (the demo's and the pretraining's).
CURATED_SCHEMA = Path(__file__).resolve().parents[1] / "schemas" / "schema.pbtxt"
# The data steps' Beam pipelines run in this process on Beam's in-memory FnApiRunner (what
# DirectRunner picks for batch work), one worker: on small data, worker start-up costs more
# than it saves. Naming the runner skips DirectRunner's first try of PrismRunner, which
# downloads its binary from GitHub at run time. A container image flag tells TFX its workers
# need no copy of TFX: without one, TFX builds an sdist of itself for every data step (about
# 2.5 s each) to ship to workers that here share this process. No container ever starts.
LOCAL_BEAM_ARGS = (
    "--runner=FnApiRunner",
    "--direct_running_mode=in_memory",
    "--direct_num_workers=1",
    "--sdk_container_image=none-workers-run-in-process",
)
# ImageExampleGen's own, added to those locally: threads in this process, one per usable core.
# Reading and decoding images release the GIL, so they overlap; Beam's per-element work and
# building the protos do not, which bounds the threads worth having. Measured on 2 cores,
# ExampleGen alone: on 2,000 photo-sized JPEGs (500x375, 70 KB), 4.2 s in one worker and 2.8 s
# in 2 threads; on 32,000 small demo images, whose decoding is short, 19.1 s either way; 4
# threads were slower than 2 (more threads than cores cost). StatisticsGen and the Evaluator
# were slower in threads (6.2 -> 8.4 s, 9.8 -> 11.3 s), Transform hardly faster (7.6 -> 7.3 s),
# and worker processes start too slowly for this size (ExampleGen at 32,000 images: 45.7 s in
# one worker, 56.4 s in 2 processes).
MAX_INGESTION_THREADS = 4


def local_ingestion_beam_args() -> tuple[str, ...]:
    """ImageExampleGen's Beam options on the local runner: a thread per usable core, capped."""
    threads = min(len(os.sched_getaffinity(0)), MAX_INGESTION_THREADS)
    return ("--direct_running_mode=multi_threading", f"--direct_num_workers={threads}")


@dataclass(frozen=True)
class TrainerResources:
    """What the Trainer's pod asks of a cluster: GPUs and limits (the local runner has none).

    `gpu_resource` is the Kubernetes resource name the GPU device plugin advertises.
    """

    gpus: int = 1
    gpu_resource: str = "nvidia.com/gpu"
    cpu: float = 4.0
    memory_gb: float = 16.0

    def __post_init__(self) -> None:
        if self.gpus < 0:
            raise ValueError(f"gpus must be >= 0, got {self.gpus}")
        if self.cpu <= 0 or self.memory_gb <= 0:
            raise ValueError(
                f"the Trainer needs CPU and memory: got cpu={self.cpu}, memory_gb={self.memory_gb}"
            )


@dataclass(frozen=True)
class PipelineConfig:
    """Where data and outputs live, how examples are split, and what a model must achieve."""

    data_root: str
    pipeline_root: str
    serving_dir: str
    schema_path: str
    # SQLite file for ML Metadata; None leaves it to the orchestrator (Kubeflow).
    metadata_path: str | None = None
    pipeline_name: str = DEFAULT_PIPELINE_NAME
    input_format: str = "images"  # or "tfrecord"
    # Kubeflow: data_root holds snapshot folders and each run reads the last by name. (A local
    # run resolves the latest snapshot as it starts and passes that folder as data_root.)
    latest_snapshot: bool = False
    eval_percent: int = DEFAULT_EVAL_PERCENT
    max_bad_file_fraction: float = DEFAULT_MAX_BAD_FILE_FRACTION
    # Images above this size are skipped at ingestion and refused by Transform and serving,
    # before decoding: decoding costs memory by pixels, not by file size.
    max_megapixels: float = features.DEFAULT_MAX_MEGAPIXELS
    # The data folder's fingerprint when the local runner started (set by it; on Kubeflow,
    # DataSnapshot takes it each run): ExampleGen's cache misses when a file moved class.
    data_fingerprint: str = ""
    # Stop when the data drifted from what trained the served version (the schema's
    # drift_comparators); off for one run to accept a deliberate change.
    check_drift: bool = True
    # Stop when the classes differ from the served version's (label ids would name other
    # classes); true for one run to accept a deliberate change, judged by the floor alone.
    accept_class_change: bool = False
    # What a candidate must achieve to be blessed and pushed.
    gate: Gate = field(default_factory=Gate)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    # Random augmentation of training batches; configured on Transform, which owns it.
    augmentation: AugmentationSpec = field(default_factory=AugmentationSpec)
    # The optional Tuner stage (off: the Trainer uses `training` as given).
    tune: bool = False
    tuner_trials: int = 6
    beam_pipeline_args: tuple[str, ...] = LOCAL_BEAM_ARGS
    # Added to ImageExampleGen's Beam options when run locally (a compiled pipeline's data steps
    # take the cluster's Beam options alone).
    ingestion_beam_args: tuple[str, ...] = field(default_factory=local_ingestion_beam_args)
    enable_cache: bool = True
    # Set by the Kubeflow runner: the Trainer's GPUs and limits on the cluster.
    trainer_resources: TrainerResources | None = None
    # Compiled for Kubeflow Pipelines: data root and training settings become run parameters
    # (this config's values their defaults), and DataSnapshot picks and fingerprints the data
    # when the run starts (KFP's open-source backend runs no ExampleGen driver and caches a
    # step by its parameters).
    kubeflow: bool = False

    def __post_init__(self) -> None:
        if not 0 < self.eval_percent < 100:
            raise ValueError(f"eval_percent must be between 1 and 99, got {self.eval_percent}")
        if self.tuner_trials < 1:
            raise ValueError(f"tuner_trials must be at least 1, got {self.tuner_trials}")
        if self.latest_snapshot and not self.kubeflow:
            raise ValueError(
                "latest_snapshot is resolved at run time on Kubeflow only; a local run passes "
                "the latest snapshot's folder as data_root (see components/snapshot)"
            )
        if not self.max_megapixels > 0:
            raise ValueError(f"max_megapixels must be above 0, got {self.max_megapixels}")
        if not 0 <= self.max_bad_file_fraction <= 1:
            raise ValueError(
                f"max_bad_file_fraction must be in [0, 1], got {self.max_bad_file_fraction}"
            )


@dataclass(frozen=True)
class PretrainPipelineConfig:
    """The pretraining pipeline: generated source images in, a backbone's weights out."""

    source_root: str
    pipeline_root: str
    metadata_path: str
    schema_path: str
    pretrain: PretrainConfig = field(default_factory=PretrainConfig)
    pipeline_name: str = "backbone-pretraining"
    beam_pipeline_args: tuple[str, ...] = LOCAL_BEAM_ARGS
    ingestion_beam_args: tuple[str, ...] = field(default_factory=local_ingestion_beam_args)
    enable_cache: bool = True


def weights_filename(backbone: str, backbone_alpha: float) -> str:
    """`make pretrain`'s file for an architecture: MobileNetV2's width changes its weights'
    shapes, so each width has its own."""
    suffix = f"-alpha{backbone_alpha:g}" if backbone == "mobilenet_v2" else ""
    return f"{backbone}{suffix}.weights.h5"


def default_weights(pretrained_dir: str, backbone: str, backbone_alpha: float) -> str:
    """The `make pretrain` backbone for this architecture if there is one, else from scratch."""
    path = os.path.join(pretrained_dir, weights_filename(backbone, backbone_alpha))
    return os.path.abspath(path) if os.path.exists(path) else "none"


def file_digest(path: str) -> str:
    """A short digest of a file's bytes: TFX caches by settings, and a path alone would not
    change when the file behind it is rebuilt."""
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()[:16]


# `make deploy`, `make schedule`: runs go in an experiment named after the pipeline, and the one
# recurring run is named after it too.
DEFAULT_EXPERIMENT = DEFAULT_PIPELINE_NAME
DEFAULT_CRON = "0 0 3 * * *"  # 03:00 every day; KFP's cron has seconds first
SCHEDULE_SUFFIX = "retraining"


@dataclass(frozen=True)
class DeploySettings:
    """Where and how `make deploy` and `make schedule` put the compiled pipeline."""

    host: str = ""  # the KFP API endpoint: required, named when missing
    package: str = DEFAULT_PACKAGE
    pipeline_name: str = DEFAULT_PIPELINE_NAME
    experiment: str = DEFAULT_EXPERIMENT
    version: str = ""  # default: the code version and the time of upload
    cron: str = DEFAULT_CRON
    # The Kubernetes service account the run's pods use ("": KFP's default, pipeline-runner);
    # bind object-store access to it (workload identity), never put keys in the spec.
    service_account: str = ""
    # The runs' artifact root ("": the cluster's default, deploy/cluster/kfp-launcher.yaml).
    pipeline_root: str = ""
    # Run parameters as a JSON object ("": the compiled defaults).
    run_params: str = ""
    # Multi-user Kubeflow: the profile's namespace that the pipeline, the experiment and the
    # runs belong to ("": a single-user cluster).
    namespace: str = ""
    # A file holding a bearer token for the KFP API ("": in a pod, the service account token
    # Kubeflow mounts for KFP, if there is one; else none).
    token_file: str = ""
    # A CA bundle to verify the API's TLS certificate by ("": the system's).
    ca_cert: str = ""

    def __post_init__(self) -> None:
        if not self.host:
            raise ValueError("say which cluster: KFP_HOST=https://... (the KFP API endpoint)")
        if self.ca_cert and not os.path.isfile(self.ca_cert):
            raise ValueError(f"no CA bundle at {self.ca_cert!r} (KFP_CA_CERT)")
        fields = self.cron.split()
        if len(fields) != 6:
            raise ValueError(
                f"KFP's cron has 6 fields, seconds first (e.g. {DEFAULT_CRON!r}); "
                f"got {len(fields)} in {self.cron!r}"
            )

    @property
    def schedule_name(self) -> str:
        return f"{self.pipeline_name} {SCHEDULE_SUFFIX}"
