"""docker/prometheus: promtool accepts the config and the rules, whose unit tests pass, and
every rule reads metrics the code exposes."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.ops.promql import metric_names

PROMETHEUS = Path(__file__).resolve().parents[2] / "docker" / "prometheus"
PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None, reason="promtool is not installed (Debian: apt-get install prometheus)")


def promtool(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([PROMTOOL, *args], cwd=PROMETHEUS, capture_output=True, text=True,
                          timeout=60, check=False)


@needs_promtool
def test_promtool_checks_the_config_and_its_rule_files() -> None:
    done = promtool("check", "config", "prometheus.yml")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS: 1 rule files found" in done.stdout + done.stderr


@needs_promtool
def test_promtool_runs_the_rule_unit_tests() -> None:
    done = promtool("test", "rules", "tests/underdog_test.yml")
    assert done.returncode == 0, done.stdout + done.stderr


@needs_promtool
def test_promtool_rejects_a_broken_rule(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text("groups:\n  - name: x\n    rules:\n      - alert: X\n        expr: rate(\n")
    done = promtool("check", "rules", str(bad))
    assert done.returncode != 0  # the checks above would catch a typo


def rules() -> list[dict]:
    groups = yaml.safe_load((PROMETHEUS / "rules" / "underdog.yml").read_text())["groups"]
    return [r for g in groups for r in g["rules"]]


def recorded() -> set[str]:
    return {r["record"] for r in rules() if "record" in r}


def test_every_rule_reads_metrics_the_code_exposes(metric_catalog: set[str]) -> None:
    known = metric_catalog | recorded()
    for rule in rules():
        unknown = metric_names(rule["expr"]) - known
        assert not unknown, f"{rule.get('alert') or rule.get('record')}: {sorted(unknown)}"
    # The staleness alert is the exporter's verdict, the one `underdog health` gives.
    [stale] = [r for r in rules() if r.get("alert") == "UnderdogTableStale"]
    assert metric_names(stale["expr"]) == {"underdog_feed_stale"}


def test_promql_name_extraction() -> None:
    expr = ('histogram_quantile(0.99, sum by (le, asset) (rate(underdog_x_bucket{job="a-b",'
            'asset=~"td3_.*"}[5m]))) / on(asset) underdog:y:rate5m and time() - up')
    assert metric_names(expr) == {"underdog_x_bucket", "underdog:y:rate5m", "up"}
