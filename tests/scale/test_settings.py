"""UNDERDOG_EXECUTOR and the Celery settings, as the code location and the workers read them."""

from __future__ import annotations

import pytest

from underdog.config import ConfigError, load_settings
from underdog_assets.definitions import defs
from underdog_assets.defs.common.executors import celery_execution_config
from underdog_cli.workers import worker_argv


def test_every_job_runs_on_the_executor_the_setting_names(
        dagster_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    names = {}
    for executor in ("multiprocess", "celery", "k8s"):
        monkeypatch.setenv("UNDERDOG_EXECUTOR", executor)
        names[executor] = {job.executor_def.name for job in defs().resolve_all_job_defs()}
    assert names == {"multiprocess": {"multi_or_in_process_executor"},
                     "celery": {"celery"}, "k8s": {"k8s"}}
    monkeypatch.setenv("UNDERDOG_EXECUTOR", "threads")
    with pytest.raises(ConfigError, match="UNDERDOG_EXECUTOR"):
        load_settings()


def test_celery_uses_the_projects_redis_under_the_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UNDERDOG_REDIS_URL", "redis://127.0.0.1:6379/3")
    monkeypatch.setenv("UNDERDOG_REDIS_PREFIX", "desk_a")
    monkeypatch.delenv("UNDERDOG_CELERY_BROKER_URL", raising=False)
    config = celery_execution_config(load_settings())
    assert config["broker"] == config["backend"] == "redis://127.0.0.1:6379/3"
    source = config["config_source"]
    assert source["broker_transport_options"]["global_keyprefix"] == "desk_a:celery:"
    assert source["result_backend_transport_options"]["global_keyprefix"] == "desk_a:celery:"
    assert source["task_acks_late"] and source["task_reject_on_worker_lost"]
    monkeypatch.setenv("UNDERDOG_CELERY_BROKER_URL", "redis://broker:6379/1")
    assert celery_execution_config(load_settings())["broker"] == "redis://broker:6379/1"


def test_a_worker_serves_the_queues_it_is_given() -> None:
    argv = worker_argv(name="underdog@host1", queues=["io"], concurrency=4)
    assert argv[argv.index("-A") + 1] == "underdog_assets.celery_worker"
    assert argv[argv.index("--queues") + 1] == "io"
    assert argv[argv.index("--hostname") + 1] == "underdog@host1"
