"""Where Beam runs the data steps (ExampleGen, StatisticsGen, Transform, Evaluator) on a cluster.

- direct: inside each step's pod, one process per core (small data; no extra service).
- dataflow: Google Cloud Dataflow, workers started from the pipeline image (Runner v2).
- flink, spark: a Flink or Spark cluster through Beam's portable runner and that cluster's Beam
  job server; its workers run the pipeline image as a worker pool (EXTERNAL environment, a
  sidecar at BEAM_WORKER_POOL), so they import the same preprocessing code.
The pipeline image carries Beam's SDK harness (deploy/Dockerfile), as Dataflow and portable
workers need.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass

RUNNERS = ("direct", "dataflow", "flink", "spark")
# Options that carry a secret: every Beam option is written into the compiled spec and, with the
# pipeline's config, into each pushed version's record, where anyone who reads them sees it.
SECRET_OPTION = re.compile(
    r"--[\w-]*(token|secret|password|passwd|credential|api_?key|private_?key|key_?file)[\w-]*",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class BeamSettings:
    runner: str = "direct"
    project: str = ""  # dataflow
    region: str = ""  # dataflow
    temp_location: str = ""  # dataflow: a gs:// folder for staging and temporary files
    job_endpoint: str = ""  # flink, spark: the Beam job server, host:port
    worker_pool: str = "localhost:50000"  # flink, spark: the worker pool sidecar
    extra_args: str = ""  # anything else, passed through (shell-quoted)

    def __post_init__(self) -> None:
        if self.runner not in RUNNERS:
            raise ValueError(
                f"beam runner must be one of {', '.join(RUNNERS)}, got {self.runner!r}"
            )
        needed = {
            "dataflow": {
                "project": "BEAM_PROJECT",
                "region": "BEAM_REGION",
                "temp_location": "BEAM_TEMP",
            },
            "flink": {"job_endpoint": "BEAM_JOB_ENDPOINT"},
            "spark": {"job_endpoint": "BEAM_JOB_ENDPOINT"},
        }.get(self.runner, {})
        missing = [env for name, env in needed.items() if not getattr(self, name)]
        if missing:
            raise ValueError(f"the {self.runner} Beam runner needs {', '.join(missing)}")
        secrets = [
            arg.split("=")[0] for arg in shlex.split(self.extra_args) if SECRET_OPTION.match(arg)
        ]
        if secrets:
            raise ValueError(
                f"BEAM_ARGS must not carry credentials ({', '.join(secrets)}): the compiled "
                "spec and every push record keep the Beam options. Give the runs' service "
                "account access instead (workload identity, docs/kubeflow.md)."
            )


def beam_args(settings: BeamSettings, image: str) -> tuple[str, ...]:
    """The Beam pipeline options every data step of the compiled pipeline gets."""
    if settings.runner == "direct":
        # The workers are subprocesses in this pod's image, which holds TFX: naming the image
        # stops TFX building an sdist of itself to ship them in every data step.
        args = [
            "--direct_running_mode=multi_processing",
            "--direct_num_workers=0",
            f"--sdk_container_image={image}",
        ]
    elif settings.runner == "dataflow":
        args = [
            "--runner=DataflowRunner",
            f"--project={settings.project}",
            f"--region={settings.region}",
            f"--temp_location={settings.temp_location}",
            f"--sdk_container_image={image}",
            "--experiments=use_runner_v2",
        ]
    else:
        args = [
            "--runner=PortableRunner",
            f"--job_endpoint={settings.job_endpoint}",
            "--environment_type=EXTERNAL",
            f"--environment_config={settings.worker_pool}",
        ]
    return (*args, *shlex.split(settings.extra_args))
