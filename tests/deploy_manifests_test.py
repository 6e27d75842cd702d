"""deploy/cluster and deploy/serving, checked without a cluster (none here): every manifest
the kustomization lists parses, the runs' service account gets only the rights KFP v2's
driver, launcher and Argo's executor use (no wildcard, no Secrets), the names agree with the
README's steps, and the KServe InferenceService serves the registry with TF Serving.
What this cannot show is that a cluster accepts them; `kubectl apply -k --dry-run=server` does."""

from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.unit

CLUSTER = Path(__file__).resolve().parents[1] / "deploy" / "cluster"
README = (Path(__file__).resolve().parents[1] / "README.md").read_text()
RUNNER = "image-classifier-runner"


def manifests() -> dict[tuple[str, str], dict]:
    kustomization = yaml.safe_load((CLUSTER / "kustomization.yaml").read_text())
    found = {}
    for resource in kustomization["resources"]:
        for document in yaml.safe_load_all((CLUSTER / resource).read_text()):
            found[(document["kind"], document["metadata"]["name"])] = document
    return found


def test_every_listed_manifest_parses_and_has_a_kind_and_name():
    kinds = {kind for kind, _ in manifests()}
    assert kinds == {"Profile", "ServiceAccount", "Role", "RoleBinding", "ConfigMap"}


def test_the_runner_role_grants_only_what_a_kfp_v2_run_uses():
    rules = manifests()[("Role", RUNNER)]["rules"]
    granted = {
        (group, resource): (tuple(rule["verbs"]), tuple(rule.get("resourceNames", ())))
        for rule in rules
        for group in rule["apiGroups"]
        for resource in rule["resources"]
    }
    assert granted == {
        ("", "configmaps"): (("get",), ("kfp-launcher",)),
        ("", "pods"): (("get",), ()),
        ("argoproj.io", "workflowtaskresults"): (("create", "patch"), ()),
    }


def test_the_binding_gives_that_role_to_the_runs_service_account():
    found = manifests()
    binding = found[("RoleBinding", RUNNER)]
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": RUNNER,
    }
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": RUNNER}]
    assert ("ServiceAccount", RUNNER) in found
    assert f"SERVICE_ACCOUNT={RUNNER}" in README


def test_the_launcher_config_sets_a_default_pipeline_root():
    config = manifests()[("ConfigMap", "kfp-launcher")]
    assert config["data"]["defaultPipelineRoot"].startswith("gs://")


def test_the_kserve_inference_service_serves_the_registry_with_tf_serving():
    serving = Path(__file__).resolve().parents[1] / "deploy" / "serving"
    documents = yaml.safe_load_all((serving / "inference-service.yaml").read_text())
    found = {document["kind"]: document for document in documents}
    docs = (Path(__file__).resolve().parents[1] / "docs" / "serving.md").read_text()

    service = found["InferenceService"]
    assert service["apiVersion"] == "serving.kserve.io/v1beta1"
    predictor = service["spec"]["predictor"]
    assert predictor["model"]["modelFormat"]["name"] == "tensorflow"
    # Its own account, not the runner's, whose identity may write the registry.
    assert predictor["serviceAccountName"] == found["ServiceAccount"]["metadata"]["name"]
    assert predictor["serviceAccountName"] != RUNNER
    assert f"/v1/models/{service['metadata']['name']}:predict" in docs
