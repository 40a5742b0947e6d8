"""workspace.yaml: both code locations load side by side, as `make ui` and the compose
services load them."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest
from dagster._core.test_utils import instance_for_test
from dagster._core.workspace.context import WorkspaceProcessContext
from dagster._core.workspace.load_target import WorkspaceFileTarget

from underdog.ops.freshness import CHECKED

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_both_locations_load(dagster_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    with instance_for_test() as instance, WorkspaceProcessContext(
            instance, WorkspaceFileTarget(paths=[str(ROOT / "workspace.yaml")])) as process:
        workspace = process.create_request_context()
        entries = workspace.get_code_location_entries()
        assert set(entries) == {"underdog", "underdog_monitoring"}
        for name, entry in entries.items():
            assert entry.load_error is None, f"{name}: {entry.load_error}"
        graph = workspace.asset_graph
        node = graph.get(dg.AssetKey("table_freshness"))
        assert node.is_materializable and node.group_name == "monitoring"
        assert {k.name for k in node.check_keys} == {f.table for f in CHECKED}
        for feed in CHECKED:  # the tables' own pages keep only their data checks
            checks = graph.get(dg.AssetKey(feed.table)).check_keys
            assert all(k.asset_key == dg.AssetKey(feed.table) for k in checks)
