"""docker-compose.yml cannot run here (no Docker engine), so it is checked against the code."""

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
DOCKERFILE = (ROOT / "Dockerfile").read_text()
AIRFLOW_SERVICES = {"airflow-init", "airflow-apiserver", "airflow-scheduler", "airflow-dag-processor"}


def test_services_are_the_warehouse_and_airflow_3_built_from_our_image():
    services = COMPOSE["services"]
    assert {"warehouse", *AIRFLOW_SERVICES} <= set(services)
    for name in AIRFLOW_SERVICES:
        assert services[name]["build"] == ".", name
        assert services[name]["command"][0] == "airflow"
    # Airflow 3 names: the api-server replaced the webserver; DAG parsing is its own process.
    commands = {services[n]["command"][1] for n in AIRFLOW_SERVICES}
    assert commands == {"db", "api-server", "scheduler", "dag-processor"}


def test_every_path_the_image_and_mounts_use_exists():
    for source in re.findall(r"^COPY (\S+)", DOCKERFILE, flags=re.M):
        assert (ROOT / source.rstrip("/")).exists(), f"Dockerfile copies missing {source}"
    for package in ("warehouse", "ingestion", "simulator", "identity", "ml", "expectations", "reporting", "pipeline"):
        assert f"COPY {package}/" in DOCKERFILE, f"the image lacks the {package} package"
    for volume in COMPOSE["services"]["warehouse"]["volumes"]:
        host = volume.split(":")[0]
        if host.startswith("./"):
            assert (ROOT / host).exists(), host


def test_the_dags_folder_in_the_image_holds_our_dags():
    workdir = re.search(r"^WORKDIR (\S+)", DOCKERFILE, flags=re.M).group(1)
    dags_folder = re.search(r"AIRFLOW__CORE__DAGS_FOLDER=(\S+)", DOCKERFILE).group(1)
    assert dags_folder == f"{workdir}/dags"
    assert (ROOT / "dags" / "customer360.py").exists()


def test_airflow_services_get_the_one_warehouse_setting_and_no_literal_secrets():
    text = (ROOT / "docker-compose.yml").read_text()
    for name in AIRFLOW_SERVICES:
        env = COMPOSE["services"][name]["environment"]
        assert env["WAREHOUSE_URL"].startswith("postgresql://")
        assert "@warehouse:5432/" in env["WAREHOUSE_URL"]
    for line in text.splitlines():
        if re.search(r"(PASSWORD|SECRET)\s*:", line) or re.search(r"://[^:/]+:[^@]+@", line):
            assert "${" in line, f"secret written into docker-compose.yml: {line.strip()}"


def test_the_environment_block_is_written_once():
    text = (ROOT / "docker-compose.yml").read_text()
    assert text.count("WAREHOUSE_URL:") == 1
    assert text.count("<<: *airflow-common") == len(AIRFLOW_SERVICES)
