"""make deploy / schedule / unschedule through kfp.Client, against tests/fake_kfp.py: a loopback
stand-in for the KFP REST API (it proves the requests KFP's own client builds from our code and
the end state they reach; not that a real cluster runs them). Nothing leaves 127.0.0.1."""

import json

import pytest
import yaml

from pipeline import deploy, kubeflow_runner
from tests.fake_kfp import FakeKfp
from tests.helpers import KUBEFLOW_COMPILE_FLAGS

pytestmark = pytest.mark.pipeline


@pytest.fixture(scope="module")
def package(tmp_path_factory):
    path = tmp_path_factory.mktemp("build") / "pipeline.yaml"
    assert kubeflow_runner.main([*KUBEFLOW_COMPILE_FLAGS, "--output", str(path)], environ={}) == 0
    return str(path)


@pytest.fixture
def kfp_api():
    with FakeKfp() as fake:
        yield fake


def run(kfp_api, package, action, *flags, **environ):
    argv = [action, "--host", kfp_api.host, "--package", package, *flags]
    return deploy.main(argv, environ={"VERSION_NAME": "", **environ})


def test_deploy_uploads_the_compiled_spec_and_starts_a_run(kfp_api, package):
    assert run(kfp_api, package, "deploy") == 0

    (pipeline,) = kfp_api.pipelines.values()
    assert pipeline["display_name"] == "image-classifier"
    (version,) = kfp_api.versions[pipeline["pipeline_id"]]
    with open(package) as f:
        assert kfp_api.uploaded[version["pipeline_version_id"]] == f.read()
    (run_request,) = kfp_api.runs
    assert run_request["pipeline_version_reference"] == {
        "pipeline_id": pipeline["pipeline_id"],
        "pipeline_version_id": version["pipeline_version_id"],
    }
    (experiment,) = kfp_api.experiments.values()
    assert run_request["experiment_id"] == experiment["experiment_id"]
    assert experiment["display_name"] == "image-classifier"


def test_a_second_deploy_adds_a_version_to_the_same_pipeline(kfp_api, package):
    run(kfp_api, package, "deploy")
    assert run(kfp_api, package, "deploy", "--version", "v2") == 0

    (pipeline_id,) = kfp_api.pipelines
    names = [v["display_name"] for v in kfp_api.versions[pipeline_id]]
    assert names == ["image-classifier", "v2"]
    assert len(kfp_api.experiments) == 1
    assert (
        kfp_api.runs[-1]["pipeline_version_reference"]["pipeline_version_id"]
        == (kfp_api.versions[pipeline_id][-1]["pipeline_version_id"])
    )


def test_schedule_twice_updates_the_one_recurring_run(kfp_api, package):
    assert run(kfp_api, package, "schedule", CRON="0 0 3 * * *") == 0
    (first,) = kfp_api.recurring_runs
    assert run(kfp_api, package, "schedule", "--cron", "0 30 1 * * 1-5") == 0

    (recurring,) = kfp_api.recurring_runs.values()
    assert recurring["display_name"] == "image-classifier retraining"
    assert recurring["trigger"] == {"cron_schedule": {"cron": "0 30 1 * * 1-5"}}
    assert recurring["max_concurrency"] == 1
    assert recurring["no_catchup"] is True
    assert recurring["mode"] == "ENABLE"
    (pipeline_id,) = kfp_api.pipelines
    latest = kfp_api.versions[pipeline_id][-1]["pipeline_version_id"]
    assert recurring["pipeline_version_reference"]["pipeline_version_id"] == latest
    # Replaced (KFP has no update for recurring runs), not added beside: the new one is
    # created first, then the old one deleted.
    calls = kfp_api.calls()
    deleted = calls.index(("DELETE", f"/apis/v2beta1/recurringruns/{first}"))
    created = [i for i, call in enumerate(calls) if call == ("POST", "/apis/v2beta1/recurringruns")]
    assert created[-1] < deleted


def test_a_schedule_that_cannot_be_created_leaves_the_old_one_running(kfp_api, package, capsys):
    run(kfp_api, package, "schedule")
    (first,) = kfp_api.recurring_runs
    kfp_api.refuse_recurring_runs = True

    assert run(kfp_api, package, "schedule", "--cron", "0 30 1 * * *") == 1

    assert list(kfp_api.recurring_runs) == [first]
    error = capsys.readouterr().err
    assert "the KFP API at http://127.0.0.1" in error
    assert "refused the schedule (HTTP 400" in error and "recurring run refused" in error


def test_runs_use_the_service_account_given(kfp_api, package):
    run(kfp_api, package, "deploy", SERVICE_ACCOUNT="image-classifier-runner")
    run(kfp_api, package, "schedule", "--service-account", "image-classifier-runner")

    assert kfp_api.runs[0]["service_account"] == "image-classifier-runner"
    (recurring,) = kfp_api.recurring_runs.values()
    assert recurring["service_account"] == "image-classifier-runner"


def test_unschedule_removes_it_and_is_harmless_twice(kfp_api, package, capsys):
    run(kfp_api, package, "schedule")
    assert run(kfp_api, package, "unschedule") == 0
    assert kfp_api.recurring_runs == {}
    assert run(kfp_api, package, "unschedule") == 0
    assert "Removed 0 recurring run(s)" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["deploy", "--host", ""], "say which cluster: KFP_HOST="),
        (["schedule", "--host", "http://127.0.0.1:9", "--cron", "0 3 * * *"], "6 fields"),
        (
            ["deploy", "--host", "http://127.0.0.1:9", "--package", "/nonexistent.yaml"],
            "no compiled pipeline at /nonexistent.yaml: run make compile",
        ),
    ],
)
def test_bad_settings_are_named_before_contacting_anything(argv, message, capsys):
    assert deploy.main(argv, environ={}) == 2
    assert message in capsys.readouterr().err


def test_the_spec_kfp_receives_is_the_compiled_pipeline(kfp_api, package):
    run(kfp_api, package, "deploy")
    (text,) = kfp_api.uploaded.values()
    spec = next(yaml.safe_load_all(text))
    assert spec["pipelineInfo"]["name"] == "image-classifier"


def test_runs_take_the_pipeline_root_and_run_parameters_given(kfp_api, package):
    params = '{"data_root": "gs://bucket/images/2026-11-22", "training_config": {"epochs": 3}}'
    environ = {"PIPELINE_ROOT": "gs://bucket/root", "RUN_PARAMS": params}
    assert run(kfp_api, package, "deploy", **environ) == 0
    assert run(kfp_api, package, "schedule", **environ) == 0

    (recurring,) = kfp_api.recurring_runs.values()
    for request in (kfp_api.runs[0], recurring):
        runtime = request["runtime_config"]
        assert runtime["pipeline_root"] == "gs://bucket/root"
        assert runtime["parameters"]["data_root"] == "gs://bucket/images/2026-11-22"
        training = json.loads(runtime["parameters"]["training_config"])
        # The one setting changed; the others as compiled.
        assert training == {**json.loads(compiled_training(package)), "epochs": 3}


def test_without_run_parameters_a_run_keeps_the_compiled_values(kfp_api, package):
    assert run(kfp_api, package, "deploy") == 0

    runtime = kfp_api.runs[0].get("runtime_config") or {}
    assert not runtime.get("parameters")
    assert not runtime.get("pipeline_root")


def compiled_training(package) -> str:
    return deploy.compiled_parameters(package)["training_config"]


@pytest.mark.parametrize(
    ("run_params", "message"),
    [
        ('{"epochs": 3}', "unknown run parameter(s) epochs; the pipeline has data_root, training"),
        ('{"training_config": {"epocs": 3}}', "Unknown training setting(s): epocs"),
        ('{"training_config": {"dropout": 2}}', "dropout"),
        ('{"data_root": 7}', "run parameter data_root takes a string"),
        ("epochs=3", "RUN_PARAMS is not JSON"),
    ],
)
def test_bad_run_parameters_are_named_before_contacting_anything(
    package, run_params, message, capsys
):
    argv = ["deploy", "--host", "http://127.0.0.1:9", "--package", package]
    assert deploy.main(argv, environ={"RUN_PARAMS": run_params}) == 2
    assert message in capsys.readouterr().err


def write_token(tmp_path, token: str = "s3cret") -> str:
    path = tmp_path / "token"
    path.write_text(token + "\n")
    return str(path)


def test_on_multi_user_kubeflow_everything_goes_in_the_profile_with_the_token(
    package, tmp_path, capsys
):
    with FakeKfp(multi_user=True, token="s3cret") as kfp_api:
        flags = ["--namespace", "team-a", "--token-file", write_token(tmp_path)]
        assert run(kfp_api, package, "deploy", *flags) == 0
        assert run(kfp_api, package, "schedule", *flags) == 0

    (pipeline,) = kfp_api.pipelines.values()
    assert pipeline["namespace"] == "team-a"  # private to the profile
    (experiment,) = kfp_api.experiments.values()
    assert experiment["namespace"] == "team-a"
    (started,) = kfp_api.runs
    assert started["experiment_id"] == experiment["experiment_id"]
    (recurring,) = kfp_api.recurring_runs.values()
    assert recurring["experiment_id"] == experiment["experiment_id"]
    # The second upload found the profile's pipeline: one pipeline, two versions.
    assert len(kfp_api.versions[pipeline["pipeline_id"]]) == 2
    out = capsys.readouterr().out
    assert f"Run details: {kfp_api.host}/#/runs/details/{started['run_id']}" in out


def test_multi_user_kubeflow_without_a_namespace_is_named_before_anything_is_sent(
    package, tmp_path, capsys
):
    with FakeKfp(multi_user=True) as kfp_api:
        assert run(kfp_api, package, "deploy") == 2

    assert "is multi-user: say which profile the runs belong to, KFP_NAMESPACE=" in (
        capsys.readouterr().err
    )
    assert kfp_api.calls() == [("GET", deploy.HEALTHZ_PATH)]


def test_without_the_token_the_api_refuses_and_nothing_is_created(package, capsys):
    with FakeKfp(token="s3cret") as kfp_api:
        assert run(kfp_api, package, "deploy") == 1

    assert "refused us (HTTP 401 Unauthorized) (a missing or wrong token: KFP_TOKEN_FILE)" in (
        capsys.readouterr().err
    )
    assert kfp_api.calls() == [("GET", deploy.HEALTHZ_PATH)]


def test_in_a_pod_the_mounted_kfp_token_is_used(package, tmp_path):
    with FakeKfp(token="from-the-pod") as kfp_api:
        environ = {"KF_PIPELINES_SA_TOKEN_PATH": write_token(tmp_path, "from-the-pod")}
        assert run(kfp_api, package, "deploy", **environ) == 0

    assert len(kfp_api.runs) == 1


@pytest.mark.parametrize("content", [None, ""], ids=["missing", "empty"])
def test_an_unusable_token_file_is_named(package, tmp_path, capsys, content):
    path = tmp_path / "token"
    if content is not None:
        path.write_text(content)
    with FakeKfp(token="s3cret") as kfp_api:
        assert run(kfp_api, package, "deploy", "--token-file", str(path)) == 2

    assert str(path) in capsys.readouterr().err
    assert kfp_api.requests == []


@pytest.mark.parametrize(
    ("host", "warned"),
    [
        ("http://kfp.example.com:8888", True),
        ("http://10.0.0.7", True),
        ("https://kfp.example.com", False),
        ("http://localhost:8080", False),
        ("http://127.0.0.1:8888", False),
    ],
)
def test_plain_http_to_another_machine_is_warned_about(host, warned):
    assert (deploy.plain_http_warning(host) is not None) == warned


def test_a_missing_ca_bundle_is_named_before_anything_is_sent(package, tmp_path, capsys):
    with FakeKfp() as kfp_api:
        missing = str(tmp_path / "ca.pem")
        assert run(kfp_api, package, "deploy", "--ca-cert", missing) == 2

    assert f"no CA bundle at {missing!r}" in capsys.readouterr().err
    assert kfp_api.requests == []
