"""deploy/k8s validated offline: every object against the Kubernetes OpenAPI schemas
(PyPI ``kubernetes-validate``, strict: unknown fields fail), the kustomization rendered
by ``kubectl kustomize`` where kubectl exists, and the topology the design needs.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.conftest import K8S, k8s_documents

kubernetes_validate = pytest.importorskip("kubernetes_validate")

# The oldest Kubernetes minor still commonly run, and the newest the package knows.
VERSIONS = ("1.29.0", kubernetes_validate.utils.latest_version())
FILES = sorted(p for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml")
WORKLOADS = {"Deployment", "StatefulSet"}


def _validate(resource: dict[str, Any], version: str) -> None:
    try:
        kubernetes_validate.validate(resource, version, strict=True)
    except kubernetes_validate.ValidationError as exc:
        path = ".".join(map(str, exc.path))
        pytest.fail(f"{resource['kind']}/{resource['metadata']['name']}: {path}: {exc.message}")


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_manifest_matches_the_kubernetes_schema(path: Path, version: str) -> None:
    documents = k8s_documents(path)
    assert documents
    for resource in documents:
        _validate(resource, version)  # SchemaNotFoundError (unknown kind) fails too


def test_strict_validation_catches_mistakes() -> None:
    deployment = next(d for d in k8s_documents(K8S / "alerts.yaml") if d["kind"] == "Deployment")
    deployment["spec"]["template"]["spec"]["containers"][0]["livenesProbe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, VERSIONS[-1], strict=True)


def test_kustomization_lists_every_file_and_renders() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    assert sorted(kustomization["resources"]) == sorted(p.name for p in FILES)
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed: rendering the kustomization is not checked")
    rendered = subprocess.run([kubectl, "kustomize", str(K8S)], capture_output=True, text=True,
                              timeout=60, check=True).stdout
    resources = [d for d in yaml.safe_load_all(rendered) if d]
    assert len(resources) == sum(len(k8s_documents(p)) for p in FILES)
    for resource in resources:
        _validate(resource, VERSIONS[-1])
    images = {c["image"] for r in resources if r["kind"] in WORKLOADS
              for c in r["spec"]["template"]["spec"]["containers"]}
    assert images == {"registry.example.org/sharpeyes:0.1.0"}


# --- topology -------------------------------------------------------------------------------

def _by_kind(resources: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {r["metadata"]["name"]: r for r in resources if r["kind"] == kind}


def _container(workload: dict[str, Any]) -> dict[str, Any]:
    containers: list[dict[str, Any]] = workload["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]


def _env(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in container.get("env", [])}


def test_workloads_match_the_design(k8s_resources: list[dict[str, Any]]) -> None:
    deployments = _by_kind(k8s_resources, "Deployment")
    statefulsets = _by_kind(k8s_resources, "StatefulSet")
    api, alerts = deployments["sharpeyes-api"], deployments["sharpeyes-alerts"]
    ingest, video = statefulsets["sharpeyes-ingest"], statefulsets["sharpeyes-video"]
    assert alerts["spec"]["replicas"] == 2 and ingest["spec"]["replicas"] == 2
    hpa = _by_kind(k8s_resources, "HorizontalPodAutoscaler")["sharpeyes-api"]
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment",
                                             "name": "sharpeyes-api"}
    assert hpa["spec"]["minReplicas"] >= 2
    # Ingest: a stable client id per replica (the pod name of a StatefulSet).
    client_id = _env(_container(ingest))["SHARPEYES_INGEST_CLIENT_ID"]
    assert client_id["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    # Video: shard count = replicas, the index taken from the pod name's ordinal.
    video_env = _env(_container(video))
    assert int(video_env["SHARPEYES_VIDEO_SHARD_COUNT"]["value"]) == video["spec"]["replicas"]
    assert video_env["POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    assert "SHARPEYES_VIDEO_SHARD_INDEX" in " ".join(_container(video)["args"])
    assert _container(api)["readinessProbe"]["httpGet"]["path"] == "/health"


@pytest.mark.parametrize("pod", ["sharpeyes-video-0", "sharpeyes-video-1", "sharpeyes-video-12"])
def test_video_pod_name_picks_the_shard(pod: str, tmp_path: Path,
                                        k8s_resources: list[dict[str, Any]]) -> None:
    """Run the container's own command with a stub entrypoint that reports its shard."""
    video = _by_kind(k8s_resources, "StatefulSet")["sharpeyes-video"]
    container = _container(video)
    stub = tmp_path / "sharpeyes-entrypoint"
    stub.write_text('#!/bin/sh\necho "$SHARPEYES_VIDEO_SHARD_INDEX $*"\n')
    stub.chmod(0o755)
    run = subprocess.run([*container["command"], *container["args"]], capture_output=True,
                         text=True, check=True, timeout=10,
                         env={"PATH": f"{tmp_path}:/usr/bin:/bin", "POD_NAME": pod})
    assert run.stdout.strip() == f"{pod.rsplit('-', 1)[1]} serve video"


def test_every_workload_is_probed_limited_budgeted_and_unprivileged(
        k8s_resources: list[dict[str, Any]]) -> None:
    budgets = _by_kind(k8s_resources, "PodDisruptionBudget")
    workloads = [r for r in k8s_resources if r["kind"] in WORKLOADS]
    assert len(workloads) == 4
    for workload in workloads:
        name = workload["metadata"]["name"]
        pod = workload["spec"]["template"]["spec"]
        container = _container(workload)
        assert "livenessProbe" in container, name
        resources = container["resources"]
        assert set(resources["requests"]) == set(resources["limits"]) == {"cpu", "memory"}, name
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert container["securityContext"]["allowPrivilegeEscalation"] is False, name
        assert container["securityContext"]["capabilities"]["drop"] == ["ALL"], name
        labels = workload["spec"]["template"]["metadata"]["labels"]
        assert workload["spec"]["selector"]["matchLabels"].items() <= labels.items(), name
        assert any(b["spec"]["selector"]["matchLabels"].items() <= labels.items()
                   for b in budgets.values()), f"no PodDisruptionBudget covers {name}"


def test_services_select_pods_and_statefulsets_have_theirs(
        k8s_resources: list[dict[str, Any]]) -> None:
    services = _by_kind(k8s_resources, "Service")
    pod_labels = [w["spec"]["template"]["metadata"]["labels"] for w in k8s_resources
                  if w["kind"] in WORKLOADS]
    for name, service in services.items():
        selector = service["spec"]["selector"].items()
        assert any(selector <= labels.items() for labels in pod_labels), name
    for statefulset in _by_kind(k8s_resources, "StatefulSet").values():
        assert services[statefulset["spec"]["serviceName"]]["spec"]["clusterIP"] == "None"


def test_network_policy_denies_by_default(k8s_resources: list[dict[str, Any]]) -> None:
    policies = _by_kind(k8s_resources, "NetworkPolicy")
    deny = policies["default-deny"]["spec"]
    assert deny["podSelector"] == {} and set(deny["policyTypes"]) == {"Ingress", "Egress"}
    assert "ingress" not in deny and "egress" not in deny
    namespaces = {r["metadata"].get("namespace") for r in k8s_resources if r["kind"] != "Namespace"}
    assert namespaces == {"sharpeyes"}
