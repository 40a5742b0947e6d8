"""Where the steps of every job run: UNDERDOG_EXECUTOR = multiprocess | celery | k8s.

The code location has one default executor (the `executor` Definitions below), so every
asset job, the implicit asset job and `underdog demo`'s runs use it: the same assets and
partitions run in one process tree, on Celery workers, or one Kubernetes pod per step.

Celery uses the project's Redis as broker and result backend; every key it writes starts
with `<UNDERDOG_REDIS_PREFIX>:celery:` (kombu's and the backend's `global_keyprefix`), so two
deployments or test runs on one Redis share no queue. The worker side (`underdog workers
start`) builds its app from the same settings (underdog_assets/celery_worker.py).
"""

from __future__ import annotations

import os

import dagster as dg

from underdog.config import Settings, load_settings

QUEUE_TAG = "dagster-celery/queue"  # dagster_celery.tags.DAGSTER_CELERY_QUEUE_TAG
K8S_TAG = "dagster-k8s/config"
# Kinds of work, each a Celery queue with its own worker concurrency and, on Kubernetes, its
# own pod size: "io" waits on outside APIs or the database, "cpu" computes in Python.
KINDS = ("io", "cpu")
QUEUES = (*KINDS, "dagster")  # "dagster": dagster-celery's default, for untagged steps
POD_RESOURCES = {
    "io": {"requests": {"cpu": "250m", "memory": "512Mi"}, "limits": {"memory": "1Gi"}},
    "cpu": {"requests": {"cpu": "2", "memory": "4Gi"}, "limits": {"memory": "8Gi"}},
}


def work_tags(kind: str) -> dict[str, object]:
    """op_tags of an asset doing `kind` work: its Celery queue and its Kubernetes pod size."""
    if kind not in KINDS:
        raise ValueError(f"kind of work must be one of {KINDS}, got {kind!r}")
    return {QUEUE_TAG: kind,
            K8S_TAG: {"container_config": {"resources": POD_RESOURCES[kind]}}}


def celery_key_prefix(settings: Settings) -> str:
    return f"{settings.redis_prefix}:celery:"


def celery_config(settings: Settings) -> dict[str, object]:
    """The Celery app settings both sides share (dagster-celery's `config_source`)."""
    prefix = {"global_keyprefix": celery_key_prefix(settings)}
    return {
        # A step is acknowledged when it ends, not when it starts: a worker killed mid-step
        # leaves it on the queue, and another worker runs it (steps rewrite their window).
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,  # a worker holds no step it cannot start yet
        "broker_transport_options": {
            **prefix, "visibility_timeout": settings.celery_visibility_timeout_s},
        "result_backend_transport_options": prefix,
        "result_expires": 24 * 3600,
        "broker_connection_retry_on_startup": True,
    }


def celery_execution_config(settings: Settings) -> dict[str, object]:
    """The celery executor's config: broker and backend from the settings."""
    return {"broker": settings.celery_broker, "backend": settings.celery_broker,
            "config_source": celery_config(settings)}


def cpu_concurrency(settings: Settings) -> int:
    return settings.celery_cpu_concurrency or os.cpu_count() or 1


def choose_executor(settings: Settings) -> dg.ExecutorDefinition:
    """The executor UNDERDOG_EXECUTOR names, configured from the settings."""
    if settings.executor == "celery":
        from dagster_celery import celery_executor

        return celery_executor.configured(celery_execution_config(settings), name="celery")
    if settings.executor == "k8s":
        # Image, namespace, secrets and the instance come from the K8sRunLauncher of the Helm
        # chart (deploy/k8s/values.yaml); pod sizes from each step's dagster-k8s/config tag.
        from dagster_k8s import k8s_job_executor

        return k8s_job_executor
    return dg.multi_or_in_process_executor  # Dagster's own default, as before the setting


@dg.definitions
def executor() -> dg.Definitions:
    return dg.Definitions(executor=choose_executor(load_settings()))
