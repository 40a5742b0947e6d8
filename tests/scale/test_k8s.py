"""The Kubernetes side, without a cluster: what Dagster and the files themselves can check."""

from __future__ import annotations

import json
import re

import dagster as dg
import pytest
import yaml

from tests.scale.cluster import REPO
from underdog_assets.definitions import defs
from underdog_assets.defs.common.executors import POD_RESOURCES, QUEUE_TAG

VALUES = REPO / "deploy" / "k8s" / "values.yaml"
# What a deployment puts in the run config of a job on the k8s executor.
K8S_RUN_CONFIG = {"execution": {"config": {
    "job_namespace": "underdog",
    "env_secrets": ["underdog-secrets"],
    "max_concurrent": 8,
    "step_k8s_config": {"container_config": {"resources": POD_RESOURCES["io"]}},
    "per_step_k8s_config": {"state_vectors": {"container_config": {
        "resources": POD_RESOURCES["cpu"]}}},
    "retries": {"enabled": {}},
}}}


@pytest.fixture
def on_k8s(dagster_env: None, monkeypatch: pytest.MonkeyPatch) -> dg.Definitions:
    monkeypatch.setenv("UNDERDOG_EXECUTOR", "k8s")
    return defs()


def test_every_job_takes_the_k8s_executors_run_config(on_k8s: dg.Definitions) -> None:
    jobs = [job for job in on_k8s.resolve_all_job_defs()]
    assert {"market_daily", "features_daily", "macro_daily", "sentiment_collect",
            "agent_train"} <= {job.name for job in jobs}
    for job in jobs:
        assert job.executor_def.name == "k8s", job.name
        dg.validate_run_config(job, K8S_RUN_CONFIG)
        with pytest.raises(dg.DagsterInvalidConfigError):
            dg.validate_run_config(job, {"execution": {"config": {"no_such_field": 1}}})


def test_every_step_names_its_queue_and_pod_size(on_k8s: dg.Definitions) -> None:
    graph = on_k8s.resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        tags = graph.get(key).assets_def.op.tags
        kind = tags.get(QUEUE_TAG)
        assert kind in POD_RESOURCES, key
        pod = tags["dagster-k8s/config"]  # stored as JSON text, as Dagster keeps tags
        resources = (json.loads(pod) if isinstance(pod, str) else pod)["container_config"][
            "resources"]
        assert resources == POD_RESOURCES[kind], key


def test_the_helm_values_name_the_image_and_every_code_location() -> None:
    values = yaml.safe_load(VALUES.read_text())
    workspace = yaml.safe_load((REPO / "workspace.yaml").read_text())
    dockerfile = (REPO / "docker" / "Dockerfile").read_text()
    version = re.search(r'^version = "([^"]+)"', (REPO / "pyproject.toml").read_text(),
                        re.M).group(1)
    workdir = re.search(r"^WORKDIR (\S+)", dockerfile, re.M).group(1)
    deployments = {d["name"]: d for d in values["dagster-user-deployments"]["deployments"]}
    locations = {loc["python_module"]["location_name"]: loc["python_module"]["module_name"]
                 for loc in workspace["load_from"]}
    assert set(deployments) == set(locations)
    for name, module in locations.items():
        deployment = deployments[name]
        args = deployment["dagsterApiGrpcArgs"]
        assert args[args.index("--module-name") + 1] == module
        assert args[args.index("--working-directory") + 1] == workdir
        assert deployment["image"]["repository"].rsplit("/", 1)[-1] == "underdog"
        assert deployment["image"]["tag"] == version
        assert {"name": "underdog-secrets"} in deployment["envSecrets"]
    env = {e["name"]: e.get("value") for e in deployments["underdog"]["env"]}
    assert env["UNDERDOG_EXECUTOR"] == "k8s"
    assert values["runLauncher"]["type"] == "K8sRunLauncher"
    # Secrets only by reference: no URL with a password, no password value.
    text = VALUES.read_text()
    assert not re.search(r"^[^#]*://[^@\s/]+:[^@\s]+@", text, re.M)
    assert not re.search(r"^[^#]*password\s*:\s*\S", text, re.M | re.I)
