"""The Dagster UI, driven as a user would: headless Chromium on `dagster dev`.

`dagster dev` (webserver + daemon, what `make ui` runs) is started on this test run's own
storage: the project's dagster.yaml in a temporary DAGSTER_HOME, Dagster's runs and events in a
PostgreSQL database of their own (dropped at the end), the feature store in the session's test
database. The browser is Debian's `chromium` (apt-get install chromium), driven by Playwright.

What is checked is what the user sees: the asset graph (every asset inside the box of its
group), the lineage from the raw data to the state vector and the policy (the graph's own path
query), the Automation page (schedules and sensors), a partition launched from the
Materialize dialog that reaches Success in the Runs page, and td3_evaluation's page after a
tiny training run (its per-fold Sharpe table and the plot of every fold's equity).
Screenshots land in tests/artifacts/ (gitignored).
"""

from __future__ import annotations

import base64
import importlib
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import dagster as dg
import pytest
import requests
import yaml
from playwright.sync_api import Browser, Locator, Page, expect, sync_playwright
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from tests.conftest import REDIS_URL, fresh_dsn
from tests.helpers import DAY, free_port
from underdog.features import materialize
from underdog.market.backfill import backfill_bars
from underdog.sources.simulated import STRONG_EDGE
from underdog.store.admin import drop_database
from underdog.store.db import Database
from underdog_assets.definitions import defs

CHROMIUM = shutil.which("chromium")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="Debian's chromium is not installed (apt-get install chromium): the UI test drives it",
)

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "tests" / "artifacts"
SOURCES = ("ohlcv", "sentiment_scores", "macro_indicators")
PARTITION = "2024-03-05"  # a Tuesday: the simulated market is open all day
SYMBOLS = ("EURUSD", "GBPUSD")
VIEWPORT = {"width": 1600, "height": 1500}  # tall enough for the whole expanded graph
NODE_NAMES = 'svg [class*="AssetNode_assetName"]'  # an asset node's name, in either zoom

READY_S = 180  # loading the code location takes 10-40 s on a busy machine
RUN_S = 180


@dataclass(frozen=True)
class Project:
    """What the code locations define, read from their Definitions objects."""

    groups: dict[str, str]  # asset -> group
    parents: dict[str, set[str]]
    schedules: set[str]
    sensors: set[str]

    def lineage(self, sources: tuple[str, ...], target: str) -> set[str]:
        """Every asset on a path from one of `sources` to `target` (both ends included)."""
        upstream, stack = set(), [target]
        while stack:
            key = stack.pop()
            if key not in upstream:
                upstream.add(key)
                stack.extend(self.parents[key])
        on_path = set(sources) & upstream
        while more := {a for a in upstream - on_path if self.parents[a] & on_path}:
            on_path |= more
        return on_path


@dataclass
class DagsterUI:
    url: str
    log: Path
    home: Path  # DAGSTER_HOME: the project's dagster.yaml
    storage_url: str  # DAGSTER_PG_URL: the runs and events the UI shows

    def graphql(self, query: str, variables: dict | None = None) -> dict:
        answer = requests.post(f"{self.url}/graphql", timeout=30,
                               json={"query": query, "variables": variables or {}})
        answer.raise_for_status()
        body = answer.json()
        assert "errors" not in body, body["errors"]
        return body["data"]

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


def _underdog_env(dsn: str, redis_prefix: str) -> dict[str, str]:
    """The settings the code location reads, pointed at this run's database and Redis prefix."""
    return {
        "UNDERDOG_DATABASE_URL": dsn,
        "UNDERDOG_REDIS_URL": REDIS_URL,
        "UNDERDOG_REDIS_PREFIX": redis_prefix,
        "UNDERDOG_MARKET_SOURCE": "simulated",  # no internet
        "UNDERDOG_SYMBOLS": ",".join(SYMBOLS),
    }


def _default_signals() -> None:
    # A job runner may start us with SIGINT/SIGTERM ignored, which children inherit: undo that
    # so Ctrl-C (SIGINT) stops `dagster dev` and its children as it does in a terminal.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _stop(proc: subprocess.Popen) -> None:
    """Ctrl-C the process group (webserver, daemon, code server, run workers), then SIGKILL."""
    for sig, wait_s in ((signal.SIGINT, 10), (signal.SIGKILL, 10)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait_s)
        except subprocess.TimeoutExpired:
            continue
        if sig == signal.SIGINT:  # the leader is gone: take any straggler with it
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            return


READY_QUERY = """{
  workspaceOrError { ... on Workspace { locationEntries { name loadStatus
    locationOrLoadError { __typename ... on PythonError { message } } } } }
  instance { daemonHealth { allDaemonStatuses { daemonType healthy } } }
}"""


def _wait_ready(ui: DagsterUI, proc: subprocess.Popen) -> None:
    """Until every code location is loaded and the daemon's run queue is healthy."""
    deadline = time.monotonic() + READY_S
    state = "webserver not answering"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"dagster dev exited ({proc.returncode}):\n{ui.log_tail()}")
        try:
            data = ui.graphql(READY_QUERY)
        except (requests.RequestException, ValueError):
            time.sleep(0.5)
            continue
        entries = data["workspaceOrError"]["locationEntries"]
        daemons = {d["daemonType"]: d["healthy"]
                   for d in data["instance"]["daemonHealth"]["allDaemonStatuses"]}
        loaded = [e for e in entries if e["loadStatus"] == "LOADED"]
        for entry in loaded:
            if entry["locationOrLoadError"]["__typename"] == "PythonError":
                pytest.fail(f"code location {entry['name']} failed to load:\n"
                            f"{entry['locationOrLoadError']['message']}")
        if entries and len(loaded) == len(entries) and daemons.get("QUEUED_RUN_COORDINATOR"):
            return
        state = f"locations {[(e['name'], e['loadStatus']) for e in entries]}, daemons {daemons}"
        time.sleep(0.5)
    pytest.fail(f"Dagster UI not ready after {READY_S} s ({state}):\n{ui.log_tail()}")


def _workspace_definitions() -> list[dg.Definitions]:
    """The Definitions of every code location workspace.yaml loads (module attribute `defs`)."""
    workspace = yaml.safe_load((REPO / "workspace.yaml").read_text())
    found = []
    for entry in workspace["load_from"]:
        defs = importlib.import_module(entry["python_module"]["module_name"]).defs
        found.append(defs if isinstance(defs, dg.Definitions) else defs())
    return found


@pytest.fixture(scope="module")
def project(dsn: str, redis_prefix: str) -> Project:
    groups, parents, schedules, sensors = {}, {}, set(), set()
    with pytest.MonkeyPatch.context() as env:
        for name, value in _underdog_env(dsn, redis_prefix).items():
            env.setenv(name, value)
        for definitions in _workspace_definitions():
            graph = definitions.resolve_asset_graph()
            for key in graph.get_all_asset_keys():
                node = graph.get(key)
                if node.is_executable:  # not a stub of an asset another location defines
                    groups[key.to_user_string()] = node.group_name
                    parents[key.to_user_string()] = {p.to_user_string() for p in node.parent_keys}
            repository = definitions.get_repository_def()
            schedules |= {s.name for s in repository.schedule_defs}
            sensors |= {s.name for s in repository.sensor_defs}
    return Project(groups, parents, schedules, sensors)


@pytest.fixture(scope="module")
def ui(dsn: str, redis_prefix: str, tmp_path_factory: pytest.TempPathFactory,
       ) -> Iterator[DagsterUI]:
    """`dagster dev` on a free port, on this run's own Dagster database; stopped and dropped
    at the end whatever happens."""
    home = tmp_path_factory.mktemp("dagster_home")
    shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")  # the project's instance config
    (home / ".nux").mkdir()
    (home / ".nux" / "nux.yaml").write_text("seen: 1\n")  # the one-time newsletter prompt: seen
    dagster_dsn = fresh_dsn("dagster")
    env = {**os.environ, **_underdog_env(dsn, redis_prefix), "DAGSTER_HOME": str(home),
           # dagster-postgres goes through SQLAlchemy, whose default driver is now psycopg 3
           "DAGSTER_PG_URL": dagster_dsn.replace("postgresql://", "postgresql+psycopg2://", 1)}
    port = free_port()
    ui = DagsterUI(url=f"http://127.0.0.1:{port}", log=home / "dagster-dev.log", home=home,
                   storage_url=env["DAGSTER_PG_URL"])
    try:
        with ui.log.open("wb") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "dagster", "dev", "-w", str(REPO / "workspace.yaml"),
                 "-h", "127.0.0.1", "-p", str(port)],
                cwd=REPO, env=env, stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=_default_signals,
            )
        try:
            _wait_ready(ui, proc)
            yield ui
        finally:
            _stop(proc)
    finally:
        drop_database(dagster_dsn)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport=VIEWPORT, device_scale_factor=2)  # crisp screenshots
    context.set_default_timeout(30_000)
    yield context.new_page()
    context.close()


# ---- the asset graph ----------------------------------------------------------------------


def _shows(label: str, name: str) -> bool:
    """A graph label shows `name`: exactly, or middle-truncated ("hourly_se…_summary")."""
    if "…" not in label:
        return label == name
    head, _, tail = label.partition("…")
    return len(name) > len(head) + len(tail) and name.startswith(head) and name.endswith(tail)


def _graph_nodes(page: Page, count: int) -> tuple[list[dict], list[dict]]:
    """(asset nodes, group boxes) on screen, once `count` asset nodes are drawn (or 15 s)."""
    try:
        page.wait_for_function(
            "([sel, n]) => document.querySelectorAll(sel).length === n",
            arg=[NODE_NAMES, count], timeout=15_000)
    except PlaywrightTimeout:
        pass  # the caller's assertion says what is drawn instead
    return page.evaluate("""sel => {
        const box = e => { const r = e.getBoundingClientRect();
                           return {x: r.x, y: r.y, w: r.width, h: r.height}; };
        return [
          [...document.querySelectorAll(sel)].map(e => ({label: e.textContent.trim(), ...box(e)})),
          [...document.querySelectorAll('svg foreignObject.group')]
              .map(e => ({name: e.textContent.trim(), ...box(e)})),
        ];
    }""", NODE_NAMES)


def _shown_assets(nodes: list[dict], names: set[str]) -> dict[str, dict]:
    """asset name -> its node, for the names drawn; fails on a label that fits no name."""
    shown = {}
    for node in nodes:
        matches = [n for n in names if _shows(node["label"], n)]
        assert len(matches) == 1, f"graph label {node['label']!r} matches {matches}"
        shown[matches[0]] = node
    return shown


def _inside(inner: dict, outer: dict) -> bool:
    """The centre of `inner` lies in `outer` (page coordinates)."""
    x, y = inner["x"] + inner["w"] / 2, inner["y"] + inner["h"] / 2
    return outer["x"] <= x <= outer["x"] + outer["w"] and outer["y"] <= y <= outer["y"] + outer["h"]


def _screenshot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / name)


def _open_lineage(page: Page, ui: DagsterUI, project: Project) -> None:
    """Lineage page, every group expanded (graph settings > Expand all groups)."""
    page.goto(f"{ui.url}/asset-groups")
    page.get_by_text(next(iter(project.groups.values())), exact=True).first.wait_for()
    page.get_by_role("button", name="Hide navigation").click()  # room for the graph
    page.locator("button:has([aria-label=settings])").last.click()  # the graph's own settings
    page.get_by_role("menuitem", name="Expand all groups").click()
    page.keyboard.press("Escape")
    # Reload: the graph is fitted to the window on load, and remembers the expanded groups.
    page.reload()


def test_the_webserver_serves_the_project_definitions(ui: DagsterUI, project: Project) -> None:
    nodes = ui.graphql("{ assetNodes { assetKey { path } groupName isExecutable "
                       "dependencyKeys { path } } }")
    served = {"/".join(n["assetKey"]["path"]): n for n in nodes["assetNodes"] if n["isExecutable"]}
    assert {k: n["groupName"] for k, n in served.items()} == project.groups
    assert {k: {"/".join(d["path"]) for d in n["dependencyKeys"]} for k, n in served.items()} \
        == project.parents


def test_the_asset_graph_shows_every_asset_in_its_group(ui: DagsterUI, project: Project,
                                                        page: Page) -> None:
    _open_lineage(page, ui, project)
    nodes, groups = _graph_nodes(page, len(project.groups))
    _screenshot(page, "asset_graph.png")

    boxes = {g["name"]: g for g in groups}
    assert set(boxes) == set(project.groups.values())
    shown = _shown_assets(nodes, set(project.groups))
    assert set(shown) == set(project.groups), f"labels drawn: {[n['label'] for n in nodes]}"
    for asset, group in project.groups.items():
        assert _inside(shown[asset], boxes[group]), f"{asset} is not drawn inside group {group}"
        others = [g for g in boxes if g != group and _inside(shown[asset], boxes[g])]
        assert not others, f"{asset} is drawn inside {others} too"


def test_the_lineage_runs_from_the_raw_data_to_the_state_vector_and_the_policy(
        ui: DagsterUI, project: Project, page: Page) -> None:
    # td3_policy (group agent, downstream of state_vectors) is checked as soon as it is defined.
    target = "td3_policy" if "td3_policy" in project.groups else "state_vectors"
    expected = project.lineage(SOURCES, target)
    assert {*SOURCES, "state_vectors", target} <= expected  # the design's lineage, in code

    _open_lineage(page, ui, project)
    query = (" or ".join(f'key:"{s}"' for s in SOURCES))
    page.get_by_label("Search and filter assets").focus()  # a CodeMirror input
    page.keyboard.insert_text(f'({query})+ and +key:"{target}"')  # all paths sources -> target
    page.keyboard.press("Enter")
    nodes, _ = _graph_nodes(page, len(expected))
    _screenshot(page, "asset_lineage.png")
    shown = _shown_assets(nodes, set(project.groups))
    assert set(shown) == expected, f"labels drawn: {[n['label'] for n in nodes]}"


def test_schedules_and_sensors_are_listed(ui: DagsterUI, project: Project, page: Page) -> None:
    assert project.schedules and project.sensors
    page.goto(ui.url)
    page.get_by_role("link", name="Automation").click()
    for kind, names, says in (("schedules", project.schedules, "Scheduled"),
                              ("sensors", project.sensors, "sensor")):
        for name in names:
            link = page.locator(f'a[href$="/{kind}/{name}"]')  # its row: name, then what it is
            # the row's second line comes from a query of its own: slow on a loaded machine
            expect(link).to_contain_text(re.compile(rf"^{re.escape(name)}.*{says}", re.S),
                                         timeout=30_000)


def test_a_partition_launched_from_the_ui_succeeds(ui: DagsterUI, page: Page, db: Database,
                                                   ) -> None:
    page.goto(f"{ui.url}/assets/ohlcv")
    page.get_by_role("button", name="Materialize…").first.click()
    dialog = page.get_by_role("dialog")
    confirm = dialog.get_by_text("Are you sure?")  # upstream `ticks` was never materialized
    launch = dialog.get_by_text("Launch runs to materialize ohlcv")
    confirm.or_(launch).first.wait_for()
    if confirm.is_visible():
        dialog.get_by_role("button", name="Confirm").click()
    show_all = dialog.get_by_text("Show all partitions")  # the dialog offers 90 days first
    partitions = dialog.get_by_placeholder(re.compile(r"^ex: "))
    show_all.or_(partitions).first.wait_for()
    if show_all.is_visible():
        show_all.click()
    partitions.fill(PARTITION)
    partitions.press("Enter")
    dialog.get_by_role("button", name="Launch 1 run").click()

    toast = page.get_by_text(re.compile(r"^Launched run \w+$"))
    error = page.get_by_role("dialog").filter(has=page.get_by_text("Error", exact=True))
    toast.or_(error).first.wait_for()
    if error.count():
        pytest.fail(f"the UI refused to launch the run:\n{error.first.inner_text()}")
    short_id = toast.inner_text().split()[-1]
    page.locator('a[href="/runs"]').first.click()  # Runs, in the navigation
    page.locator(f'a[href^="/runs/{short_id}"]').first.click()
    page.wait_for_url(re.compile(rf"/runs/{short_id}[0-9a-f-]*$"))
    run_id = page.url.rsplit("/", 1)[-1]
    status = page.get_by_text(re.compile(r"^(Success|Failure|Canceled)$")).first
    status.wait_for(timeout=RUN_S * 1000)
    assert status.inner_text() == "Success", f"run {run_id}:\n{page.inner_text('body')[-3000:]}"

    page.locator('a[href="/runs"]').first.click()  # Runs, in the navigation
    row = page.locator(f"xpath=//a[@href='/runs/{run_id}']/ancestor::div"
                       f"[contains(., 'partition: {PARTITION}')][1]").first
    expect(row).to_contain_text("Success", timeout=30_000)  # the list may show its cache first

    run = ui.graphql("query($id: ID!) { runOrError(runId: $id) { ... on Run { status "
                     "tags { key value } } } }", {"id": run_id})["runOrError"]
    assert run["status"] == "SUCCESS"
    assert {"key": "dagster/partition", "value": PARTITION} in run["tags"]
    with db.connection() as conn:
        rows = conn.execute("SELECT count(*) FROM underdog.ohlcv WHERE time >= %s::date "
                            "AND time < %s::date + 1", (PARTITION, PARTITION)).fetchone()[0]
    assert rows == len(SYMBOLS) * 1440



# ---- the evaluation's asset page ------------------------------------------------------------

EVALUATED = ("td3_policy", "td3_evaluation")
MARKET_SEED = 9


@pytest.fixture
def evaluation(ui: DagsterUI, db: Database, dsn: str, redis_prefix: str,
               monkeypatch: pytest.MonkeyPatch) -> dict[str, dg.MetadataValue]:
    """td3_policy and td3_evaluation of seed 1 materialized with a tiny budget, in this process
    but on the UI's instance (its dagster.yaml and database), on a simulated market with the
    strong planted edge (so the oracle is evaluated too): td3_evaluation's metadata."""
    edge = STRONG_EDGE.strength
    backfill_bars(db, list(SYMBOLS), DAY - timedelta(days=1), DAY + timedelta(days=2),
                  seed=MARKET_SEED, edge=edge)
    materialize.state_vectors(db, list(SYMBOLS), DAY, DAY + timedelta(days=2))
    for name, value in {**_underdog_env(dsn, redis_prefix), "DAGSTER_HOME": str(ui.home),
                        "DAGSTER_PG_URL": ui.storage_url, "UNDERDOG_SIMULATOR_EDGE": str(edge),
                        "UNDERDOG_SIMULATOR_SEED": str(MARKET_SEED)}.items():
        monkeypatch.setenv(name, value)
    # In a thread of its own: Playwright's sync API keeps an event loop running in this one,
    # where Dagster's run could not close its own loop's async generators.
    with ThreadPoolExecutor(max_workers=1) as thread:
        result = thread.submit(_train_and_evaluate).result()
    assert result.success
    return {m.asset_key.to_user_string(): m.materialization.metadata
            for m in result.get_asset_materialization_events()}["td3_evaluation"]


def _train_and_evaluate() -> dg.ExecuteInProcessResult:
    """Seed 1 of td3_policy and td3_evaluation on the instance of DAGSTER_HOME, tiny budget."""
    config = {"ops": {"td3_policy": {"config": {"timesteps": 300, "folds": 2}}}}
    with dg.DagsterInstance.get() as instance:
        return defs().resolve_job_def("agent_train").execute_in_process(
            instance=instance, run_config=config, partition_key="1",
            asset_selection=[dg.AssetKey(a) for a in EVALUATED])


def _metadata_row(page: Page, key: str) -> Locator:
    """The row of `key` in the Metadata section of an asset's Overview."""
    return page.locator("tr").filter(has=page.locator("td:first-child").get_by_text(
        key, exact=True))


def _same(shown: str, value: object) -> bool:
    """A table cell shows `value` (numbers as JavaScript prints them: compared as numbers)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(shown) == float(value)
    return shown == str(value)


def _png_size(data_uri: str) -> list[int]:
    """[width, height] from a PNG data URI's IHDR chunk."""
    png = base64.b64decode(data_uri.split(",", 1)[1])
    return [int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")]


def test_the_evaluation_page_shows_each_folds_sharpes_and_every_folds_equity(
        ui: DagsterUI, page: Page, evaluation: dict[str, dg.MetadataValue]) -> None:
    symbol = SYMBOLS[0]
    folds = evaluation[f"folds_{symbol}"]
    columns = [c.name for c in folds.schema.columns]
    records = [r.data for r in folds.records]
    assert {r["strategy"] for r in records} == {"td3", "flat", "buy_and_hold", "ma_crossover",
                                                "oracle"}  # the edge market has an oracle
    page.goto(f"{ui.url}/assets/td3_evaluation")
    page.get_by_role("button", name="Hide navigation").click()  # room for the tables

    table = _metadata_row(page, f"folds_{symbol}").locator("table")
    expect(table.locator("thead th")).to_have_text(columns)  # drawn inline, not behind a link
    shown = table.locator("tbody tr").evaluate_all(
        "rows => rows.map(r => [...r.cells].map(c => c.textContent))")
    assert len(shown) == len(records)
    for cells, record in zip(shown, records, strict=True):
        assert all(_same(c, record[name]) for c, name in zip(cells, columns, strict=True)), \
            f"row {cells} shows {record}"
    for key in (f"deflated_sharpe_{symbol}", f"seeds_in_deflation_{symbol}"):
        value = _metadata_row(page, key).locator("td").nth(2)
        expect(value).to_be_visible()
        assert _same(value.inner_text(), evaluation[key].value), key
    table.evaluate("e => e.closest('tr').scrollIntoView()")
    _screenshot(page, "td3_evaluation.png")

    uri = evaluation[f"equity_curve_{symbol}"].value.removeprefix(f"![equity {symbol}](")[:-1]
    _metadata_row(page, f"equity_curve_{symbol}").get_by_text("[Show Markdown]").click()
    plot = page.get_by_role("dialog").filter(has_text=f"equity_curve_{symbol}").locator("img")
    expect(plot).to_be_visible()
    assert plot.get_attribute("src") == uri  # every fold's equity in one picture
    # decoded by the browser at the PNG's own size: an image it could not read has no size
    assert plot.evaluate("i => i.decode().then(() => [i.naturalWidth, i.naturalHeight])") \
        == _png_size(uri)
    _screenshot(page, "td3_evaluation_equity.png")
