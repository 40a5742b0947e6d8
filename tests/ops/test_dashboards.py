"""docker/grafana: provisioned dashboards are valid JSON, laid out, and read real metrics."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from tests.ops.promql import metric_names
from tests.ops.test_prometheus import recorded
from underdog.ops.metrics import AGENT_METRICS

GRAFANA = Path(__file__).resolve().parents[2] / "docker" / "grafana"
COMPOSE = GRAFANA.parent / "docker-compose.yml"
DASHBOARDS = sorted((GRAFANA / "dashboards").glob("*.json"))
# What each required dashboard must show, by a series it reads.
TOPICS = {
    "freshness": {"underdog_feed_stale", "underdog_feed_lag_seconds",
                  "underdog_feature_age_seconds"},
    "ingest": {"underdog_ingest_rows_total", "underdog_ingest_duration_seconds_bucket",
               "underdog:sentiment_texts_per_second:rate6h"},
    "streamer": {"underdog_stream_tick_to_redis_seconds_bucket",
                 "underdog_stream_tick_to_db_seconds_bucket"},
    "cache": {"underdog:redis_hit_ratio:rate5m", "underdog_redis_used_memory_bytes"},
    "compression": {"underdog_compression_ratio"},
    "agent": {name for name, _ in AGENT_METRICS.values()},
}


def load(path: Path) -> dict:
    return json.loads(path.read_text())


def datasource_uid() -> str:
    config = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "prometheus.yml")
                            .read_text())
    [source] = config["datasources"]
    assert source["type"] == "prometheus"
    url = urlsplit(source["url"])
    compose = yaml.safe_load(COMPOSE.read_text())
    assert url.hostname in compose["services"]  # the compose service, on its listen port
    assert f"--web.listen-address=:{url.port}" in compose["services"]["prometheus"]["command"]
    return source["uid"]


def expressions(dashboard: dict) -> list[str]:
    return [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]


def test_the_dashboards_cover_every_topic() -> None:
    assert {p.stem for p in DASHBOARDS} == set(TOPICS)
    for path in DASHBOARDS:
        used = set().union(*(metric_names(e) for e in expressions(load(path))))
        assert TOPICS[path.stem] <= used, f"{path.name}: {TOPICS[path.stem] - used}"


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.stem)
def test_a_dashboard_is_well_formed(path: Path) -> None:
    dashboard = load(path)
    uid = datasource_uid()
    assert dashboard["uid"] and len(dashboard["uid"]) <= 40 and dashboard["title"]
    assert dashboard["schemaVersion"] >= 36 and dashboard["panels"]
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24 and grid["h"] > 0, panel["title"]
        assert panel["datasource"] == {"type": "prometheus", "uid": uid}
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["expr"].strip() and target["datasource"]["uid"] == uid
        refs = [t["refId"] for t in panel["targets"]]
        assert len(refs) == len(set(refs))


def test_uids_are_unique() -> None:
    uids = [load(p)["uid"] for p in DASHBOARDS]
    assert len(uids) == len(set(uids))


def test_every_expression_reads_metrics_the_code_exposes(metric_catalog: set[str]) -> None:
    known = metric_catalog | recorded()
    for path in DASHBOARDS:
        for expr in expressions(load(path)):
            unknown = metric_names(expr) - known
            assert not unknown, f"{path.name}: {expr}: {sorted(unknown)}"


def test_provisioning_points_at_the_mounted_files() -> None:
    provider = yaml.safe_load((GRAFANA / "provisioning" / "dashboards" / "underdog.yml")
                              .read_text())["providers"][0]
    compose = yaml.safe_load(COMPOSE.read_text())["services"]["grafana"]
    mounts = dict(v.split(":")[:2] for v in compose["volumes"])
    assert mounts["./grafana/dashboards"] == provider["options"]["path"]
    assert mounts["./grafana/provisioning"] == "/etc/grafana/provisioning"
    home = compose["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert home.startswith(provider["options"]["path"] + "/")
    assert (GRAFANA / "dashboards" / Path(home).name).is_file()
