"""`make deploy`, `make schedule`, `make unschedule`: the compiled pipeline on a KFP v2 cluster.

Through KFP's own client (kfp.Client). Each deploy or schedule uploads build/pipeline.yaml as a
new version of one named pipeline (created on first use), so the cluster keeps every compiled
version; runs and the recurring run go in one experiment.
- deploy: start one run of the new version now.
- schedule: the one recurring run (by name) trains the new version on a cron; running it again
  replaces the recurring run (KFP has no update), never adds a second. Max concurrency 1, no
  catch-up: a cluster that was down does not replay missed nights.
- unschedule: remove that recurring run.

On multi-user Kubeflow, KFP_NAMESPACE names the profile: the pipeline is uploaded into it (a
private pipeline), and the experiment, runs and recurring run belong to it. Requests carry a
bearer token: KFP_TOKEN_FILE's, or in a pod the service account token Kubeflow mounts for KFP.
TLS is verified (KFP_CA_CERT adds a CA bundle); plain http to another machine is warned about.

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
import ssl
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import yaml

from components.registry.provenance import code_version
from components.trainer.training_config import TrainingConfig
from pipeline import exit_codes
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


def find_pipeline(client: Any, settings: DeploySettings) -> str | None:
    """The named pipeline's id, looked up in the profile's namespace when there is one (KFP's
    get_pipeline_id sees shared pipelines only); None before its first upload."""
    predicate = {
        "operation": "EQUALS",
        "key": "display_name",
        "stringValue": settings.pipeline_name,
    }
    found = client.list_pipelines(
        filter=json.dumps({"predicates": [predicate]}), namespace=settings.namespace or None
    )
    pipelines = found.pipelines or []
    if len(pipelines) > 1:
        raise ValueError(f"{len(pipelines)} pipelines are named {settings.pipeline_name!r}")
    return pipelines[0].pipeline_id if pipelines else None


def upload_version(client: Any, settings: DeploySettings, version: str) -> tuple[str, str]:
    """Upload the package as a new version of the named pipeline; (pipeline id, version id).
    A pipeline's first upload creates it, with that upload as its first version."""
    existing = find_pipeline(client, settings)
    if existing is None:
        pipeline = client.upload_pipeline(
            settings.package,
            pipeline_name=settings.pipeline_name,
            namespace=settings.namespace or None,
        )
        versions = client.list_pipeline_versions(pipeline.pipeline_id).pipeline_versions
        return pipeline.pipeline_id, versions[0].pipeline_version_id
    version = client.upload_pipeline_version(
        settings.package, pipeline_version_name=version, pipeline_id=existing
    )
    return existing, version.pipeline_version_id


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


def read_token(path: str) -> str:
    """The bearer token in `path`; ValueError naming the file when it cannot serve."""
    try:
        with open(path) as f:
            token = f.read().strip()
    except OSError as e:
        raise ValueError(f"cannot read the token file {path!r} ({e.strerror})") from e
    if not token:
        raise ValueError(f"the token file {path!r} is empty")
    return token


def mounted_token_path(environ: Mapping[str, str]) -> str | None:
    """The token Kubeflow mounts in a pod for KFP's API, where kfp.Client looks for it; None
    outside such a pod."""
    from kfp import client as kfp_client

    path = (
        environ.get(kfp_client.KF_PIPELINES_SA_TOKEN_ENV) or kfp_client.KF_PIPELINES_SA_TOKEN_PATH
    )
    return path if os.path.isfile(path) else None


def bearer_token(settings: DeploySettings, environ: Mapping[str, str]) -> str | None:
    """KFP_TOKEN_FILE's token, else the mounted one, else None."""
    path = settings.token_file or mounted_token_path(environ)
    return read_token(path) if path else None


def client_options(settings: DeploySettings, environ: Mapping[str, str]) -> dict[str, Any]:
    """kfp.Client's arguments: the host, the profile's namespace, the CA bundle, and the
    token (a mounted one as credentials, which kfp.Client reads again as it rotates)."""
    from kfp import client as kfp_client

    options: dict[str, Any] = {"host": settings.host}
    if settings.namespace:
        options["namespace"] = settings.namespace
    if settings.ca_cert:
        options["ssl_ca_cert"] = settings.ca_cert
    mounted = mounted_token_path(environ)
    if settings.token_file:
        options["existing_token"] = read_token(settings.token_file)
    elif mounted:
        options["credentials"] = kfp_client.ServiceAccountTokenVolumeCredentials(mounted)
    return options


class ApiUnusableError(RuntimeError):
    """The KFP API cannot be reached, or refuses us; the message says which and why."""


def check_api(settings: DeploySettings, token: str | None) -> dict[str, Any]:
    """The API's health answer, asked once with the token (kfp.Client would ask five times,
    25 s apart, and then say only that it timed out)."""
    request = urllib.request.Request(
        f"{settings.host.rstrip('/')}{HEALTHZ_PATH}",
        headers={"Authorization": f"Bearer {token}"} if token else {},
    )
    context = ssl.create_default_context(cafile=settings.ca_cert or None)
    try:
        with urllib.request.urlopen(request, timeout=60, context=context) as answer:
            return json.load(answer)
    except urllib.error.HTTPError as e:
        token_file = DEPLOY_SETTINGS["token_file"].env
        hint = f" (a missing or wrong token: {token_file})" if e.code in (401, 403) else ""
        raise ApiUnusableError(
            f"the KFP API at {settings.host} refused us (HTTP {e.code} {e.reason}){hint}"
        ) from e
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", e)
        raise ApiUnusableError(f"cannot reach the KFP API at {settings.host} ({reason})") from e


HEALTHZ_PATH = "/apis/v2beta1/healthz"
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")


def plain_http_warning(host: str) -> str | None:
    """A warning when the API is reached by plain http on another machine: the token and the
    pipeline would cross the network unencrypted. (A port-forward to localhost is fine.)"""
    url = urlsplit(host)
    if url.scheme == "http" and url.hostname not in LOOPBACK_HOSTS:
        return (
            f"warning: {host} is plain http to another machine: the token and the pipeline "
            "travel unencrypted; use https (or a port-forward to localhost)"
        )
    return None


def open_client(settings: DeploySettings, environ: Mapping[str, str]) -> Any:
    """kfp.Client for these settings, once the API answered its health check with the token.
    ValueError for settings that cannot work (an unreadable token file, no namespace on a
    multi-user Kubeflow); ApiUnusableError when the API cannot be reached or refuses us."""
    import kfp

    options = client_options(settings, environ)
    health = check_api(settings, bearer_token(settings, environ))
    if health.get("multi_user") and not settings.namespace:
        namespace = DEPLOY_SETTINGS["namespace"]
        raise ValueError(
            f"the Kubeflow at {settings.host} is multi-user: say which profile the runs "
            f"belong to, {namespace.env}=<namespace> ({namespace.flag})"
        )
    return kfp.Client(**options)


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
        return exit_codes.BAD_INPUT
    if action != "unschedule" and not os.path.isfile(settings.package):
        print(
            f"error: no compiled pipeline at {settings.package}: run make compile", file=sys.stderr
        )
        return exit_codes.BAD_INPUT
    try:
        params = (
            run_parameters(settings.package, settings.run_params) if action != "unschedule" else {}
        )
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return exit_codes.BAD_INPUT
    import warnings

    from kfp_server_api.exceptions import ApiException

    # kfp.Client warns on every start that it needs a KFP v2 backend; docs/kubeflow.md says so.
    warnings.filterwarnings("ignore", "This client only works with Kubeflow", FutureWarning)
    warning = plain_http_warning(settings.host)
    if warning:
        print(warning, file=sys.stderr)
    try:
        client = open_client(settings, environ)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return exit_codes.BAD_INPUT
    except ApiUnusableError as e:
        print(f"error: {e}", file=sys.stderr)
        return exit_codes.STEP_FAILED
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
        return exit_codes.STEP_FAILED
    except ValueError as e:  # our own checks on what the API answered
        print(f"error: {e}", file=sys.stderr)
        return exit_codes.STEP_FAILED
    return exit_codes.SUCCESS


if __name__ == "__main__":
    sys.exit(main())
