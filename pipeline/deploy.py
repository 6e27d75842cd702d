"""`make deploy`, `make schedule`, `make unschedule`: the compiled pipeline on a KFP v2 cluster.

Through KFP's own client (kfp.Client). Each deploy or schedule uploads build/pipeline.yaml as a
new version of one named pipeline (created on first use), so the cluster keeps every compiled
version; runs and the recurring run go in one experiment.
- deploy: start one run of the new version now.
- schedule: the one recurring run (by name) trains the new version on a cron; running it again
  replaces the recurring run (KFP has no update), never adds a second. Max concurrency 1, no
  catch-up: a cluster that was down does not replay missed nights.
- unschedule: remove that recurring run.

Runs and the recurring run take their artifact root (PIPELINE_ROOT; else the cluster's default)
and any run parameters (RUN_PARAMS, a JSON object) from here; a parameter not given keeps the
value compiled in. Training settings may be given as the few to change, e.g.
RUN_PARAMS='{"training_config": {"epochs": 3}}': they are merged onto the compiled ones and
checked before anything is sent.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Mapping
from typing import Any

import yaml

from components.registry.provenance import code_version
from components.trainer.training_config import TrainingConfig
from pipeline.config import TRAINING_PARAMETER, DeploySettings
from pipeline.settings import DEPLOY_SETTINGS, add_settings


def compiled_parameters(package: str) -> dict[str, Any]:
    """The package's run parameters and their compiled defaults."""
    with open(package) as f:
        spec = next(yaml.safe_load_all(f))
    declared = spec["root"].get("inputDefinitions", {}).get("parameters", {})
    return {name: parameter.get("defaultValue") for name, parameter in declared.items()}


def merged_training_settings(compiled: str, change: Any) -> str:
    """The compiled training settings with `change` (an object, or its JSON) applied, checked
    as the Trainer will check them."""
    if isinstance(change, str):
        change = json.loads(change)
    if not isinstance(change, dict):
        raise ValueError(f"training_config must be an object of settings, got {change!r}")
    settings = {**json.loads(compiled), **change}
    TrainingConfig.from_dict(settings)
    return json.dumps(settings, sort_keys=True)


def run_parameters(package: str, given: str) -> dict[str, str]:
    """RUN_PARAMS checked against the package: known names, string values, valid settings."""
    if not given:
        return {}
    try:
        values = json.loads(given)
    except json.JSONDecodeError as e:
        raise ValueError(f"RUN_PARAMS is not JSON ({e}): {given!r}") from e
    if not isinstance(values, dict):
        raise ValueError(f"RUN_PARAMS must be a JSON object of parameters, got {given!r}")
    compiled = compiled_parameters(package)
    unknown = sorted(set(values) - set(compiled))
    if unknown:
        raise ValueError(
            f"unknown run parameter(s) {', '.join(unknown)}; "
            f"the pipeline has {', '.join(sorted(compiled))}"
        )
    params = {}
    for name, value in values.items():
        if name == TRAINING_PARAMETER:
            value = merged_training_settings(compiled[name], value)
        elif not isinstance(value, str):
            raise ValueError(f"run parameter {name} takes a string, got {value!r}")
        params[name] = value
    return params


def version_name(settings: DeploySettings) -> str:
    if settings.version:
        return settings.version
    return f"{code_version()} {time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime())}"


def upload_version(client: Any, settings: DeploySettings, version: str) -> tuple[str, str]:
    """Upload the package as a new version of the named pipeline; (pipeline id, version id).
    A pipeline's first upload creates it, with that upload as its first version."""
    pipeline_id = client.get_pipeline_id(settings.pipeline_name)
    if pipeline_id is None:
        pipeline = client.upload_pipeline(settings.package, pipeline_name=settings.pipeline_name)
        versions = client.list_pipeline_versions(pipeline.pipeline_id).pipeline_versions
        return pipeline.pipeline_id, versions[0].pipeline_version_id
    version = client.upload_pipeline_version(
        settings.package, pipeline_version_name=version, pipeline_id=pipeline_id
    )
    return pipeline_id, version.pipeline_version_id


def recurring_runs(client: Any, experiment_id: str, name: str) -> list[Any]:
    """Our recurring runs (by display name) in the experiment."""
    found, token = [], ""
    while True:
        page = client.list_recurring_runs(
            experiment_id=experiment_id, page_token=token, page_size=100
        )
        found += [run for run in page.recurring_runs or [] if run.display_name == name]
        token = page.next_page_token
        if not token:
            return found


def run_options(settings: DeploySettings, params: dict[str, str]) -> dict[str, Any]:
    """What a run and the recurring run both take: run parameters, artifact root (None: the
    cluster's default) and service account (None: KFP's default)."""
    return {
        "params": params,
        "pipeline_root": settings.pipeline_root or None,
        "service_account": settings.service_account or None,
    }


def deploy(client: Any, settings: DeploySettings, params: dict[str, str]) -> str:
    """Upload a new version and start one run of it with `params`; returns the run id."""
    version = version_name(settings)
    pipeline_id, version_id = upload_version(client, settings, version)
    experiment = client.create_experiment(settings.experiment)
    run = client.run_pipeline(
        experiment.experiment_id,
        job_name=f"{settings.pipeline_name} {version}",
        pipeline_id=pipeline_id,
        version_id=version_id,
        **run_options(settings, params),
    )
    return run.run_id


def schedule(client: Any, settings: DeploySettings, params: dict[str, str]) -> str:
    """Upload a new version and make it the one recurring run with `params`; returns its id.

    The new recurring run is created before the old one is deleted: if creating it fails, the
    old schedule keeps retraining, and two never coexist for longer than this call."""
    pipeline_id, version_id = upload_version(client, settings, version_name(settings))
    experiment = client.create_experiment(settings.experiment)
    old = recurring_runs(client, experiment.experiment_id, settings.schedule_name)
    created = client.create_recurring_run(
        experiment.experiment_id,
        job_name=settings.schedule_name,
        cron_expression=settings.cron,
        max_concurrency=1,
        no_catchup=True,
        pipeline_id=pipeline_id,
        version_id=version_id,
        **run_options(settings, params),
    )
    for replaced in old:
        client.delete_recurring_run(replaced.recurring_run_id)
    return created.recurring_run_id


def unschedule(client: Any, settings: DeploySettings) -> int:
    """Remove the recurring run; returns how many were removed (0 if there was none)."""
    experiment = client.create_experiment(settings.experiment)
    old = recurring_runs(client, experiment.experiment_id, settings.schedule_name)
    for run in old:
        client.delete_recurring_run(run.recurring_run_id)
    return len(old)


def build_parser(environ: Mapping[str, str]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=("deploy", "schedule", "unschedule"))
    add_settings(parser, DEPLOY_SETTINGS, environ)
    return parser


def main(argv: list[str] | None = None, environ: Mapping[str, str] = os.environ) -> int:
    given = {k: v for k, v in vars(build_parser(environ).parse_args(argv)).items() if v is not None}
    action = given.pop("action")
    try:
        settings = DeploySettings(**given)  # the other flags are its fields, by name
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if action != "unschedule" and not os.path.isfile(settings.package):
        print(
            f"error: no compiled pipeline at {settings.package}: run make compile", file=sys.stderr
        )
        return 2
    try:
        params = (
            run_parameters(settings.package, settings.run_params) if action != "unschedule" else {}
        )
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    import warnings

    import kfp
    from kfp_server_api.exceptions import ApiException

    # kfp.Client warns on every start that it needs a KFP v2 backend; docs/kubeflow.md says so.
    warnings.filterwarnings("ignore", "This client only works with Kubeflow", FutureWarning)
    client = kfp.Client(host=settings.host)
    try:
        if action == "deploy":
            print(f"Started run {deploy(client, settings, params)}")
        elif action == "schedule":
            recurring = schedule(client, settings, params)
            print(f"Recurring run {recurring}: {settings.cron!r}, one at a time, no catch-up")
        else:
            print(f"Removed {unschedule(client, settings)} recurring run(s)")
    except ApiException as e:
        print(
            f"error: the KFP API at {settings.host} refused the {action} "
            f"(HTTP {e.status} {e.reason}): {(e.body or '').strip()}",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
