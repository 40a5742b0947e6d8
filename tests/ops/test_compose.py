"""docker/docker-compose.yml against what the code expects (no Docker engine on this machine).

Commands are parsed by the very CLIs they name, environment variables must be settings or CLI
options of the code, and each service's environment must load as valid settings. Where a
`docker compose` (v2) or `docker-compose` (v1, with its bundled Compose schema) is installed,
it validates the file as well.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import time
from importlib.metadata import entry_points
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import redis
import typer
import yaml

from tests.helpers import DAY, free_port
from underdog.config import VARIABLES, Settings, load_settings
from underdog.ops.freshness import thresholds
from underdog.store.online.cache import LatestCache

ROOT = Path(__file__).resolve().parents[2]
DOCKER = ROOT / "docker"
COMPOSE = DOCKER / "docker-compose.yml"
ENV = {"POSTGRES_PASSWORD": "pw-for-tests", "POSTGRES_WRITER_PASSWORD": "writer-for-tests",
       "UNDERDOG_READER_PASSWORD": "reader-for-tests", "REDIS_PASSWORD": "redis-for-tests",
       "GRAFANA_ADMIN_PASSWORD": "grafana-for-tests"}
# The variables that hold a password, and the only ones a URL may take its password from.
SECRETS = "POSTGRES_PASSWORD|POSTGRES_WRITER_PASSWORD|UNDERDOG_READER_PASSWORD|REDIS_PASSWORD"
PROJECT_SERVICES = {"migrate", "dagster-webserver", "dagster-daemon", "dagster-worker", "streamer",
                    "exporter"}
SERVICES = PROJECT_SERVICES | {"timescaledb", "redis", "prometheus", "grafana"}
PUBLISHED = {"timescaledb", "redis", "dagster-webserver", "prometheus", "grafana"}
LONG_RUNNING = SERVICES - {"migrate"}
_VAR = re.compile(r"\$\$|\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")


class MissingVariable(ValueError):
    pass


def interpolate(value: object, env: dict[str, str]) -> object:
    """Compose's ${VAR}, ${VAR:-default}, ${VAR:?error} and $$, applied to every string."""
    if isinstance(value, dict):
        return {k: interpolate(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env) for v in value]
    if not isinstance(value, str):
        return value

    def one(m: re.Match) -> str:
        if m.group(0) == "$$":
            return "$"
        name, op, arg = m["name"], m["op"], m["arg"] or ""
        current = env.get(name)
        unset = current is None or (op and op.startswith(":") and current == "")
        if op and op.endswith("?") and unset:
            raise MissingVariable(f"{name}: {arg}")
        if op and op.endswith("-") and unset:
            return arg
        return current or ""

    return _VAR.sub(one, value)


def raw() -> dict:
    return yaml.safe_load(COMPOSE.read_text())  # merge keys (<<) resolved by PyYAML


@pytest.fixture(scope="module")
def compose() -> dict:
    return interpolate(raw(), ENV)


def services(compose: dict) -> dict[str, dict]:
    return compose["services"]


# --- structure -------------------------------------------------------------------------------


def test_the_services_and_a_missing_secret(compose: dict) -> None:
    assert set(services(compose)) == SERVICES
    for name in ENV:
        with pytest.raises(MissingVariable, match=f"{name}: set {name} in .env"):
            interpolate(raw(), {k: v for k, v in ENV.items() if k != name})


def test_images_are_pinned_and_the_project_image_is_built_here(compose: dict) -> None:
    for name, service in services(compose).items():
        image = service["image"]
        repo, _, tag = image.rpartition(":")
        assert repo and re.match(r"v?\d+\.\d+", tag), f"{name}: {image} is not pinned"
        if name in PROJECT_SERVICES:
            assert image.startswith("underdog:")
            build = service["build"]
            assert (DOCKER / build["context"] / build["dockerfile"]).resolve() == (
                DOCKER / "Dockerfile")
        else:
            assert "build" not in service
    assert services(compose)["timescaledb"]["image"].startswith("timescale/timescaledb:")


def test_redis_is_a_512mb_lru_cache_with_a_healthcheck(compose: dict) -> None:
    redis = services(compose)["redis"]
    args = redis["command"]
    assert args[0] == "redis-server"
    options = dict(zip(args[1::2], args[2::2], strict=True))
    assert options["--maxmemory"] == "512mb" and options["--maxmemory-policy"] == "allkeys-lru"
    assert redis["healthcheck"]["test"] == ["CMD", "redis-cli", "ping"]
    assert redis["environment"]["REDISCLI_AUTH"] == options["--requirepass"]  # the ping logs in


def test_only_the_uis_and_the_stores_listen_and_only_on_loopback(compose: dict) -> None:
    for name, service in services(compose).items():
        ports = service.get("ports", [])
        assert bool(ports) == (name in PUBLISHED), name
        for port in ports:
            assert str(port).startswith("127.0.0.1:"), f"{name}: {port} listens beyond loopback"
        assert "network_mode" not in service


def test_healthchecks_and_start_order(compose: dict) -> None:
    all_services = services(compose)
    for name in LONG_RUNNING:
        check = all_services[name].get("healthcheck", {})
        assert check.get("test") and check["test"][0] in ("CMD", "CMD-SHELL"), name
        assert all_services[name]["restart"] == "unless-stopped", name
    assert all_services["migrate"]["restart"] == "no"
    for name, service in all_services.items():
        for target, rule in service.get("depends_on", {}).items():
            condition = rule["condition"]
            if condition == "service_healthy":
                assert "healthcheck" in all_services[target], f"{name} waits on {target}"
            elif condition == "service_completed_successfully":
                assert all_services[target]["restart"] == "no"
            else:
                raise AssertionError(f"{name}: unexpected condition {condition}")
    for name in PROJECT_SERVICES - {"migrate"}:
        assert all_services[name]["depends_on"]["migrate"]["condition"] == \
            "service_completed_successfully"


def test_volumes_are_named_or_files_of_this_folder(compose: dict) -> None:
    declared = set(compose["volumes"])
    used = set()
    for name, service in services(compose).items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (DOCKER / source).exists(), f"{name}: {source} is missing"
            else:
                assert source in declared, f"{name}: volume {source} is not declared"
                used.add(source)
    assert used == declared


# --- commands and environment against the code -----------------------------------------------


def _cli(name: str):
    """The program's command tree: click's, or Typer's own copy of click."""
    if name == "underdog":
        from underdog_cli.app import app
        return typer.main.get_command(app)
    if name == "underdog-streamer":
        from underdog_streaming.__main__ import app
        return typer.main.get_command(app)
    if name == "dagster-webserver":
        from dagster_webserver.cli import cli
        return cli
    if name == "dagster-daemon":
        from dagster._daemon.cli import cli
        return cli
    raise AssertionError(f"no such program in the image: {name}")


def parse(argv: list[str]) -> list[str]:
    """Parse `argv` with the program's own CLI (options and subcommands); the command path."""
    [script] = entry_points(group="console_scripts", name=argv[0])  # installed by the image
    assert script.name == argv[0]
    command, args, path = _cli(argv[0]), list(argv[1:]), [argv[0]]
    ctx = command.make_context(argv[0], args, resilient_parsing=False)
    while hasattr(command, "resolve_command"):  # a group (click's or Typer's click)
        rest = [*ctx._protected_args, *ctx.args]
        name, command, rest = command.resolve_command(ctx, rest)
        path.append(name)
        ctx = command.make_context(name, rest, parent=ctx, resilient_parsing=False)
    return path


def commands(service: dict) -> list[list[str]]:
    """The service's command lines, with the image's /opt/underdog (WORKDIR, where the
    Dockerfile copies the repository's files) read as this repository."""
    argv = [a.replace("/opt/underdog/", f"{ROOT}/") for a in service["command"]]
    if argv[:2] == ["sh", "-c"]:
        return [shlex.split(part) for part in argv[2].split("&&")]
    return [argv]


def test_every_project_command_parses(compose: dict) -> None:
    paths = {}
    for name in PROJECT_SERVICES:
        paths[name] = [parse(argv) for argv in commands(services(compose)[name])]
    assert paths == {
        "migrate": [["underdog", "db", "create"], ["underdog", "db", "upgrade"]],
        "dagster-webserver": [["dagster-webserver"]],
        "dagster-daemon": [["dagster-daemon", "run"]],
        "dagster-worker": [["underdog", "workers", "start"]],
        "streamer": [["underdog-streamer", "run"]],
        "exporter": [["underdog", "metrics", "serve"]],
    }
    with pytest.raises(Exception, match="No such option: --no-such-option"):
        parse(["underdog", "metrics", "serve", "--no-such-option"])


def _envvars(command) -> set[str]:
    found = {e for p in command.params for e in (
        [p.envvar] if isinstance(p.envvar, str) else list(p.envvar or []))}
    if hasattr(command, "commands"):
        for sub in command.commands.values():
            found |= _envvars(sub)
    return found


def known_variables() -> set[str]:
    settings = set(VARIABLES)  # every UNDERDOG_* variable the nested settings read
    options = _envvars(_cli("underdog")) | _envvars(_cli("underdog-streamer"))
    dagster = set(re.findall(r"env:\s*(\w+)", (ROOT / "dagster.yaml").read_text()))
    return settings | options | dagster | {"HF_HOME"}


def test_every_variable_is_a_setting_or_an_option_of_the_code(compose: dict) -> None:
    known = known_variables()
    assert {"UNDERDOG_DATABASE_URL", "UNDERDOG_STREAM_METRICS_PORT", "UNDERDOG_METRICS_PORT",
            "DAGSTER_PG_URL"} <= known
    for name in PROJECT_SERVICES:
        unknown = set(services(compose)[name]["environment"]) - known
        assert not unknown, f"{name}: {sorted(unknown)} are read by nothing"


def test_every_service_environment_loads_as_settings(compose: dict,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    for name in PROJECT_SERVICES:
        env = services(compose)[name]["environment"]
        for variable in [v for v in os.environ if v.startswith("UNDERDOG_")]:
            monkeypatch.delenv(variable)
        for variable, value in env.items():
            monkeypatch.setenv(variable, str(value))
        settings = load_settings()
        assert urlsplit(settings.dsn).hostname == "timescaledb", name
        assert urlsplit(settings.dsn).password == ENV["POSTGRES_WRITER_PASSWORD"]
        assert urlsplit(settings.reader_dsn).password == ENV["UNDERDOG_READER_PASSWORD"]
        assert urlsplit(settings.redis_url.get_secret_value()).hostname == "redis"
        assert settings.timescale == "on" and settings.log_format == "json"
        thresholds(settings)  # UNDERDOG_FRESHNESS_MAX_LAG, empty by default, parses
        dagster = urlsplit(env["DAGSTER_PG_URL"])
        assert dagster.scheme == "postgresql+psycopg2" and dagster.hostname == "timescaledb"


def test_services_log_in_as_least_privileged_roles(compose: dict) -> None:
    """The superuser's password reaches the database server and the one-shot `migrate` only;
    the services write as the writer and serve reads as the reader role of the settings."""
    reader_role = Settings.model_fields["reader_role"].default
    for name in PROJECT_SERVICES:
        env = services(compose)[name]["environment"]
        users = {v: urlsplit(str(env[v])).username for v in
                 ("UNDERDOG_DATABASE_URL", "UNDERDOG_READER_DATABASE_URL", "DAGSTER_PG_URL")}
        assert users == {"UNDERDOG_DATABASE_URL": "underdog_writer",
                         "UNDERDOG_READER_DATABASE_URL": reader_role,
                         "DAGSTER_PG_URL": "underdog_writer"}, name
        admin = env.get("UNDERDOG_ADMIN_DATABASE_URL")
        assert (admin is not None) == (name == "migrate"), name
    admin = urlsplit(services(compose)["migrate"]["environment"]["UNDERDOG_ADMIN_DATABASE_URL"])
    assert admin.username == "postgres" and admin.password == ENV["POSTGRES_PASSWORD"]
    holders = {name for name, service in raw()["services"].items()
               if "POSTGRES_PASSWORD:" in str(service.get("environment"))}
    assert holders == {"timescaledb", "migrate"}


def test_redis_requires_the_password_every_client_carries(compose: dict) -> None:
    """A redis-server with the compose file's own arguments: without the password nothing can
    be read or planted; every service's UNDERDOG_REDIS_URL carries it and works."""
    args = services(compose)["redis"]["command"]
    port = free_port()
    proc = subprocess.Popen([shutil.which("redis-server") or "redis-server", *args[1:],
                             "--port", str(port), "--bind", "127.0.0.1"],
                            stdout=subprocess.DEVNULL)
    try:
        anonymous = redis.Redis(port=port, socket_timeout=1)
        deadline = time.monotonic() + 10
        while True:
            try:
                anonymous.ping()
                raise AssertionError("redis answered without a password")
            except redis.AuthenticationError:
                break
            except redis.ConnectionError:
                assert time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.05)
        with pytest.raises(redis.AuthenticationError):
            anonymous.hset("underdog:v1:state:EURUSD", mapping={"close": 9.9})
        for name in PROJECT_SERVICES:
            url = str(services(compose)[name]["environment"]["UNDERDOG_REDIS_URL"])
            local = url.replace("@redis:6379", f"@127.0.0.1:{port}")
            cache = LatestCache.from_url(local, prefix=f"compose_test_{name}", timeout_s=1)
            assert cache.put("state", "EURUSD", {"time": DAY, "close": 1.1}), name
            assert cache.get("state", "EURUSD")["close"] == 1.1
    finally:
        proc.terminate()
        proc.wait(10)


def test_secrets_only_by_interpolation() -> None:
    text = COMPOSE.read_text()
    for name, service in raw()["services"].items():
        for variable, value in (service.get("environment") or {}).items():
            value = str(value)
            if re.search(r"PASSWORD|SECRET|API_KEY|TOKEN|_AUTH$", variable):
                assert re.fullmatch(r"\$\{\w+:?[-?][^}]*\}", value), f"{name}: {variable}"
            if "://" in value and "@" in value:
                assert re.search(rf"://\w+:\$\{{({SECRETS}):\?", value), f"{name}: {variable}"
    assert not re.search(r"(?i)password\s*[:=]\s*[\"']?(?!\$\{)\w", text.replace(
        "GF_SECURITY_ADMIN_PASSWORD: ${", ""))


def test_metrics_ports_match_prometheus_and_the_healthchecks(compose: dict) -> None:
    prometheus = yaml.safe_load((DOCKER / "prometheus" / "prometheus.yml").read_text())
    targets = {job["job_name"]: job["static_configs"][0]["targets"]
               for job in prometheus["scrape_configs"]}
    all_services = services(compose)
    streamer, exporter = all_services["streamer"], all_services["exporter"]
    port = streamer["environment"]["UNDERDOG_STREAM_METRICS_PORT"]
    assert targets["underdog-streamer"] == [f"streamer:{port}"]
    assert f"127.0.0.1:{port}/metrics" in " ".join(streamer["healthcheck"]["test"])
    assert streamer["environment"]["UNDERDOG_STREAM_METRICS_ADDR"] == "0.0.0.0"  # noqa: S104
    port = exporter["environment"]["UNDERDOG_METRICS_PORT"]
    assert targets["underdog-exporter"] == [f"exporter:{port}"]
    assert f"127.0.0.1:{port}/metrics" in " ".join(exporter["healthcheck"]["test"])
    web = all_services["dagster-webserver"]
    assert web["ports"] == ["127.0.0.1:3000:3000"] and "-p" in web["command"]


def test_the_image_has_the_files_the_commands_name() -> None:
    dockerfile = (DOCKER / "Dockerfile").read_text()
    assert "DAGSTER_HOME=/opt/dagster" in dockerfile
    assert "COPY dagster.yaml /opt/dagster/dagster.yaml" in dockerfile
    assert "WORKDIR /opt/underdog" in dockerfile and "COPY workspace.yaml ./" in dockerfile
    assert "pip install -c constraints.txt ." in dockerfile
    assert re.search(r"^USER (?!root)\w+", dockerfile, re.M)
    ignore = (DOCKER / "Dockerfile.dockerignore").read_text().split()
    for copied in re.findall(r"^COPY (\S+?)/? ", dockerfile, re.M):
        for part in copied.split():
            assert f"!{part}" in ignore or f"!{part}/" in ignore, part
    compose_text = COMPOSE.read_text()
    assert compose_text.count("/opt/underdog/workspace.yaml") == 2


def test_dagster_yaml_is_a_valid_instance_config(monkeypatch: pytest.MonkeyPatch) -> None:
    from dagster._core.instance.config import dagster_instance_config

    monkeypatch.setenv("DAGSTER_PG_URL", "postgresql+psycopg2://u:p@db:5432/d")
    config, _ = dagster_instance_config(str(ROOT), "dagster.yaml")
    assert config["storage"]["postgres"]["postgres_url"] == {"env": "DAGSTER_PG_URL"}
    assert {"underdog", "underdog_streaming"} <= set(
        config["python_logs"]["managed_python_loggers"])


# --- the Compose tools themselves, where installed --------------------------------------------


def _env() -> dict[str, str]:
    return {**{k: v for k, v in os.environ.items() if not k.startswith("UNDERDOG_")}, **ENV}


@pytest.mark.skipif(subprocess.run(["docker", "compose", "version"], capture_output=True,
                                   check=False).returncode != 0 if shutil.which("docker")
                    else True, reason="`docker compose` (v2 plugin) is not installed here")
def test_docker_compose_config() -> None:
    done = subprocess.run(["docker", "compose", "-f", str(COMPOSE), "config", "-q"],
                          env=_env(), capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr


@pytest.mark.skipif(shutil.which("docker-compose") is None,
                    reason="docker-compose (v1, Debian package docker-compose) is not installed")
def test_docker_compose_v1_validates_against_its_compose_schema(tmp_path: Path) -> None:
    # v1's bundled schema predates the top-level `name`; everything else must pass it.
    copy = tmp_path / "docker-compose.yml"
    copy.write_text(re.sub(r"^name: .*\n", "", COMPOSE.read_text(), flags=re.M))
    run = ["docker-compose", "-f", str(copy), "--project-directory", str(DOCKER), "config", "-q"]
    done = subprocess.run(run, env=_env(), capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    missing = {k: v for k, v in _env().items() if k != "POSTGRES_PASSWORD"}
    done = subprocess.run(run, env=missing, capture_output=True, text=True, check=False)
    assert done.returncode != 0 and "POSTGRES_PASSWORD" in done.stderr


def test_every_interpolated_variable_is_documented_in_env_example() -> None:
    used = {m["name"] for m in _VAR.finditer(COMPOSE.read_text()) if m["name"]}
    documented = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]*)=", (ROOT / ".env.example").read_text(),
                                re.M))
    assert set(ENV) <= used
    assert used <= documented, sorted(used - documented)
