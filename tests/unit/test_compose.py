"""docker-compose.yml cannot run here (no Docker engine), so it is checked against the code."""

import importlib.util
import re
import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml

from customer360.db.logins import LOGIN_KINDS

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_TEXT = (ROOT / "docker-compose.yml").read_text()
COMPOSE = yaml.safe_load(COMPOSE_TEXT)
DEV_COMPOSE_TEXT = (ROOT / "docker-compose.dev.yml").read_text()
DEV_COMPOSE = yaml.safe_load(DEV_COMPOSE_TEXT)
DOCKERFILE = (ROOT / "Dockerfile").read_text()
SERVICES = COMPOSE["services"]
# service -> the `airflow` subcommand it runs (airflow-init runs several commands)
AIRFLOW_SERVICES = {
    "airflow-init": None,
    "airflow-apiserver": "api-server",
    "airflow-scheduler": "scheduler",
    "airflow-dag-processor": "dag-processor",
    "airflow-triggerer": "triggerer",
}
ONE_SHOT = {"airflow-init", "metabase-init"}
# Containers running the project's own code: every environment name they get must be read by it.
OWN_CODE_SERVICES = {*AIRFLOW_SERVICES, "metabase-init"}
CODE_DIRS = ("src", "dags")
# Third-party images read their own variables; these are the documented ones we set.
POSTGRES_IMAGE_ENV = {"POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB"}
METABASE_IMAGE_ENV = {  # https://www.metabase.com/docs/latest/configuring-metabase/environment-variables
    "MB_DB_TYPE",
    "MB_DB_HOST",
    "MB_DB_PORT",
    "MB_DB_DBNAME",
    "MB_DB_USER",
    "MB_DB_PASS",
    "MB_ENCRYPTION_SECRET_KEY",
    "MB_ANON_TRACKING_ENABLED",
    "MB_CHECK_FOR_UPDATES",
}


def _env_example() -> dict[str, str]:
    pairs = {}
    for line in (ROOT / ".env.example").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            pairs[name.strip()] = value.strip()
    return pairs


def _names_read_by_code() -> set[str]:
    """Upper-case string literals in the project's code: the environment names it can read."""
    files = [p for d in CODE_DIRS for p in (ROOT / d).rglob("*.py")]
    files.append(ROOT / "docker" / "metabase" / "provision.py")
    names = set()
    for path in files:
        names |= set(re.findall(r"""["']([A-Z][A-Z0-9]*(?:__?[A-Z0-9]+)+)["']""", path.read_text()))
    return names


def _airflow_options() -> set[str]:
    """Every AIRFLOW__SECTION__KEY that Airflow's own configuration reference defines."""
    spec = importlib.util.find_spec("airflow")
    reference = yaml.safe_load((Path(spec.origin).parent / "config_templates" / "config.yml").read_text())
    return {
        f"AIRFLOW__{section.upper()}__{option.upper()}"
        for section, body in reference.items()
        for option in (body.get("options") or {})
    }


def _shell_vars(path: Path) -> set[str]:
    return set(re.findall(r"\$\{?([A-Z][A-Z0-9_]*)", path.read_text()))


def _host_paths(compose: dict) -> list[str]:
    paths = []
    for service in compose["services"].values():
        for volume in (service or {}).get("volumes", []):
            host = volume.split(":")[0]
            if host.startswith(("./", "/")):
                paths.append(host)
    return paths


def test_services_are_the_warehouse_airflow_3_from_our_image_and_metabase():
    assert {"warehouse", *AIRFLOW_SERVICES, "metabase", "metabase-init"} <= set(SERVICES)
    for name, subcommand in AIRFLOW_SERVICES.items():
        assert SERVICES[name]["build"] == ".", name
        assert SERVICES[name]["image"] == SERVICES["airflow-init"]["image"], name
        if subcommand:  # Airflow 3 names: api-server, not webserver; DAG parsing is its own process
            assert SERVICES[name]["command"][:2] == ["airflow", subcommand], name


def test_airflow_init_prepares_airflow_the_warehouse_and_the_bi_login():
    script = " ".join(SERVICES["airflow-init"]["command"])
    for step in (
        "airflow db migrate",
        "python -m customer360.orchestration.airflow_auth",
        "python -m customer360.db.logins",
    ):
        assert step in script
    for module in ("src/customer360/orchestration/airflow_auth.py", "src/customer360/db/logins.py"):
        assert (ROOT / module).exists(), module


def test_every_image_is_pinned_to_a_version():
    images = [s["image"] for s in SERVICES.values() if "image" in s]
    images += re.findall(r"^FROM (\S+)", DOCKERFILE, flags=re.M)
    for image in images:
        name, _, tag = image.rpartition(":")
        assert name and "/" not in tag, f"{image} has no tag"
        assert tag != "latest" and re.match(r"v?\d+\.\d+", tag), f"{image} is not pinned to a version"
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert SERVICES["airflow-init"]["image"] == f"customer360:{version}", "our image is tagged with the project version"


def test_every_long_running_service_has_a_healthcheck_and_one_shots_do_not_restart():
    for name, service in SERVICES.items():
        if name in ONE_SHOT:
            assert service.get("restart") == "no", name
        else:
            assert service.get("restart") == "unless-stopped", name
            assert service.get("healthcheck", {}).get("test"), f"{name} has no healthcheck"


def test_services_wait_for_what_they_need_to_be_ready():
    for name, service in SERVICES.items():
        depends = service.get("depends_on", {})
        assert isinstance(depends, dict), f"{name}: depends_on needs conditions"
        for other, rule in depends.items():
            expected = "service_completed_successfully" if other in ONE_SHOT else "service_healthy"
            assert rule == {"condition": expected}, f"{name} -> {other}"
    assert {"warehouse", "airflow-init"} <= set(SERVICES["airflow-scheduler"]["depends_on"])
    assert {"metabase", "airflow-init"} <= set(SERVICES["metabase-init"]["depends_on"])
    assert "warehouse" in SERVICES["metabase"]["depends_on"]


def test_every_path_the_image_and_mounts_use_exists():
    for source in re.findall(r"^COPY (?:--\S+ )*(\S+)", DOCKERFILE, flags=re.M):
        assert (ROOT / source.rstrip("/")).exists(), f"Dockerfile copies missing {source}"
    assert "COPY src/ src/" in DOCKERFILE, "the image lacks the customer360 package (src/)"
    for compose in (COMPOSE, DEV_COMPOSE):
        for host in _host_paths(compose):
            assert host.startswith("./") and (ROOT / host).exists(), f"mounted {host} does not exist"
    named = {v.split(":")[0] for s in SERVICES.values() for v in s.get("volumes", []) if not v.startswith(".")}
    assert named <= set(COMPOSE["volumes"]), "every named volume is declared"


def test_the_dev_override_mounts_code_where_the_image_has_it():
    workdir = re.search(r"^WORKDIR (\S+)", DOCKERFILE, flags=re.M).group(1)
    assert set(DEV_COMPOSE["services"]) <= set(AIRFLOW_SERVICES)
    for service in DEV_COMPOSE["services"].values():
        for volume in service["volumes"]:
            host, container, _ = volume.split(":")
            assert container == f"{workdir}/{host.removeprefix('./')}"
            assert f"COPY {host.removeprefix('./')}/" in DOCKERFILE


def test_the_dags_folder_in_the_image_holds_our_dags():
    workdir = re.search(r"^WORKDIR (\S+)", DOCKERFILE, flags=re.M).group(1)
    dags_folder = re.search(r"AIRFLOW__CORE__DAGS_FOLDER=(\S+)", DOCKERFILE).group(1)
    assert dags_folder == f"{workdir}/dags"
    assert (ROOT / "dags" / "customer360.py").exists()


def test_every_environment_name_set_is_one_that_is_read():
    read = _names_read_by_code()
    airflow = _airflow_options()
    for name in OWN_CODE_SERVICES:
        for env_name in SERVICES[name].get("environment", {}):
            if env_name.startswith("AIRFLOW__"):
                assert env_name in airflow, f"{name}: {env_name} is not an Airflow configuration option"
            else:
                assert env_name in read, f"{name}: nothing in the code reads {env_name}"
    init_scripts = ROOT / "docker" / "postgres-init"
    script_vars = set().union(*(_shell_vars(p) for p in init_scripts.glob("*.sh")))
    for env_name in SERVICES["warehouse"]["environment"]:
        assert env_name in POSTGRES_IMAGE_ENV | script_vars, f"warehouse: nothing reads {env_name}"
    assert {"AIRFLOW_DB_PASSWORD", "METABASE_DB_PASSWORD"} <= script_vars
    assert set(SERVICES["metabase"]["environment"]) <= METABASE_IMAGE_ENV


def test_the_code_gets_the_settings_it_cannot_run_without():
    airflow_env = SERVICES["airflow-scheduler"]["environment"]
    assert airflow_env["WAREHOUSE_URL"].startswith("postgresql://")
    assert "@warehouse:5432/customer360" in airflow_env["WAREHOUSE_URL"]
    for name in AIRFLOW_SERVICES:
        assert SERVICES[name]["environment"]["WAREHOUSE_URL"] == airflow_env["WAREHOUSE_URL"], name
    init_env = SERVICES["airflow-init"]["environment"]
    for kind in LOGIN_KINDS:
        assert kind.password_env in init_env and kind.name_env in init_env
    provision = SERVICES["metabase-init"]["environment"]
    for name in ("METABASE_URL", "METABASE_ADMIN_EMAIL", "METABASE_ADMIN_PASSWORD", "C360_BI_WAREHOUSE_URL"):
        assert name in provision


def test_metabase_connects_as_the_bi_login_that_airflow_init_creates():
    bi = next(k for k in LOGIN_KINDS if k.group == "c360_bi_reader")
    login = SERVICES["airflow-init"]["environment"][bi.name_env]
    assert login == f"${{{bi.name_env}:-{bi.default_name}}}"
    url = SERVICES["metabase-init"]["environment"]["C360_BI_WAREHOUSE_URL"]
    assert url.startswith(f"postgresql://{login}:${{{bi.password_env}")
    assert url.endswith("@warehouse:5432/customer360")


def test_metabase_keeps_its_own_database_created_on_the_warehouse_server():
    env = SERVICES["metabase"]["environment"]
    assert (env["MB_DB_TYPE"], env["MB_DB_HOST"], env["MB_DB_DBNAME"], env["MB_DB_USER"]) == (
        "postgres",
        "warehouse",
        "metabase",
        "metabase",
    )
    init_sql = (ROOT / "docker" / "postgres-init" / "10-app-databases.sh").read_text()
    assert "create database metabase owner metabase" in init_sql
    assert "create database airflow owner airflow" in init_sql
    assert (
        "@warehouse:5432/airflow" in SERVICES["airflow-scheduler"]["environment"]["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    )
    assert "./docker/postgres-init:/docker-entrypoint-initdb.d:ro" in SERVICES["warehouse"]["volumes"]


def test_metabase_init_runs_the_provisioning_script_it_mounts():
    service = SERVICES["metabase-init"]
    [mount] = service["volumes"]
    host, container, _ = mount.split(":")
    script = service["command"][-1]
    assert script.startswith(container + "/")
    assert (ROOT / host / script.removeprefix(container + "/")).exists()


def test_every_variable_used_is_in_env_example_and_nothing_else_is():
    code = "\n".join(line for line in COMPOSE_TEXT.splitlines() if not line.lstrip().startswith("#"))
    used = set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)", code))
    example = _env_example()
    assert used - set(example) == set(), "add these to .env.example"
    assert set(example) - used == set(), ".env.example names variables docker-compose.yml does not use"


def test_no_secret_is_written_into_the_compose_files_or_the_example():
    for text in (COMPOSE_TEXT, DEV_COMPOSE_TEXT):
        for line in text.splitlines():
            if line.lstrip().startswith("#"):
                continue
            if re.search(r"(PASSWORD|SECRET|_KEY|_PASS)\s*:", line) or re.search(r"://[^:/\s]+:[^@\s]+@", line):
                assert "${" in line, f"secret written into a compose file: {line.strip()}"
    for name, value in _env_example().items():
        if re.search(r"PASSWORD|SECRET|KEY", name):
            assert value == "" or value.startswith("change-me"), f".env.example holds a real-looking {name}"


def test_the_real_env_file_is_never_committed():
    ignored = subprocess.run(["git", "check-ignore", "-q", ".env"], cwd=ROOT)
    assert ignored.returncode == 0, ".env must be git-ignored"
    tracked = subprocess.run(["git", "ls-files", ".env"], cwd=ROOT, capture_output=True, text=True).stdout
    assert tracked == ""


def test_the_shared_airflow_settings_are_written_once():
    assert len(re.findall(r"^\s+WAREHOUSE_URL:", COMPOSE_TEXT, flags=re.M)) == 1
    assert COMPOSE_TEXT.count("<<: *airflow-common") == len(AIRFLOW_SERVICES)
    assert COMPOSE_TEXT.count("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN:") == 1


@pytest.mark.parametrize("password", ["s3cret", "with space"])
def test_airflow_init_writes_the_admin_password_airflow_reads(tmp_path, password):
    from customer360.orchestration.airflow_auth import main

    path = tmp_path / "auth" / "passwords.json"
    path.parent.mkdir()
    path.write_text('{"viewer": "kept"}\n')
    env = {"AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(path), "AIRFLOW_ADMIN_PASSWORD": password}
    assert main(env) == 0
    from airflow.api_fastapi.auth.managers.simple.simple_auth_manager import SimpleAuthManager

    with path.open("r+") as stream:
        assert SimpleAuthManager._get_passwords(stream) == {"viewer": "kept", "admin": password}
    assert path.stat().st_mode & 0o077 == 0, "the passwords file is private to its owner"


def test_published_ports_listen_on_the_loopback_address_by_default_and_are_configurable():
    """Every interface used to be published, the warehouse's superuser port with them, on 5432."""
    published = {name: service["ports"] for name, service in SERVICES.items() if service.get("ports")}
    assert set(published) == {"warehouse", "airflow-apiserver", "metabase"}
    defaults = {}
    for name, [port] in published.items():
        match = re.fullmatch(r"\$\{C360_BIND_ADDRESS:-127\.0\.0\.1\}:\$\{([A-Z_]+)_HOST_PORT:-(\d+)\}:(\d+)", port)
        assert match, f"{name}: {port!r} does not bind ${{C360_BIND_ADDRESS:-127.0.0.1}} and a configurable port"
        defaults[name] = (int(match.group(2)), int(match.group(3)))
    assert defaults == {"warehouse": (15432, 5432), "airflow-apiserver": (8080, 8080), "metabase": (3000, 3000)}
    example = _env_example()
    assert example["C360_BIND_ADDRESS"] == "127.0.0.1" and example["WAREHOUSE_HOST_PORT"] == "15432"
