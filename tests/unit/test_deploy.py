"""The deployment files: docker-compose.yml and deploy/prometheus/prometheus.yml."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
PROMETHEUS = ROOT / "deploy" / "prometheus" / "prometheus.yml"

# DESIGN.md, "Ports and commands": what each part publishes on the host.
DESIGN_PORTS = {
    "kafka": {9092},
    "ingest-calls": {8001},
    "ingest-mail": {8002, 8025},
    "classifier": {8003},
    "crm-store": {8004},
}
# The service's HTTP port (health checks, /metrics) and the package it runs.
HTTP_SERVICES = {
    "ingest-calls": (8001, "ingest_calls"),
    "ingest-mail": (8002, "ingest_mail"),
    "classifier": (8003, "classifier"),
    "crm-store": (8004, "crm_store"),
}


def require_infra() -> bool:
    return os.environ.get("SWITCHBOARD_REQUIRE_INFRA") == "1"


def venv_tool(name: str) -> str | None:
    """A console script next to this interpreter (the venv's), else on PATH."""
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.exists() else shutil.which(name)


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    return loaded


def one_shots(compose: dict[str, Any]) -> set[str]:
    """Services that run to completion (topic creation, migrations) rather than serve."""
    return {name for name, svc in compose["services"].items() if svc.get("restart") == "no"}


def published(service: dict[str, Any]) -> set[tuple[int, int]]:
    """(host port, container port) pairs, from the short "H:C" syntax or the long one."""
    pairs: set[tuple[int, int]] = set()
    for entry in service.get("ports", []):
        if isinstance(entry, dict):
            pairs.add((int(entry["published"]), int(entry["target"])))
        else:
            host, _, container = str(entry).rpartition(":")
            pairs.add((int(host.rpartition(":")[2]), int(container.split("/")[0])))
    return pairs


def test_compose_validates_against_the_compose_spec() -> None:
    tool = venv_tool("check-jsonschema")
    assert tool, "check-jsonschema is not installed (it is in requirements-dev.txt)"
    result = subprocess.run(
        [tool, "--builtin-schema", "vendor.compose-spec", str(COMPOSE)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_long_running_service_has_a_healthcheck(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        if name in one_shots(compose):
            continue
        check = service.get("healthcheck", {})
        assert check.get("test"), f"{name} has no healthcheck"
        assert not check.get("disable"), f"{name} disables its healthcheck"


def test_one_shot_services_are_awaited_to_completion(compose: dict[str, Any]) -> None:
    # A one-shot has no healthcheck; whoever needs it waits until it exited successfully.
    shots = one_shots(compose)
    assert shots == {"kafka-init", "crm-store-migrate"}
    awaited = {
        dependency
        for service in compose["services"].values()
        if isinstance(service.get("depends_on"), dict)
        for dependency, condition in service["depends_on"].items()
        if condition.get("condition") == "service_completed_successfully"
    }
    assert shots <= awaited


def test_published_ports_match_the_design(compose: dict[str, Any]) -> None:
    for name, ports in DESIGN_PORTS.items():
        pairs = published(compose["services"][name])
        assert {host for host, _ in pairs} == ports, name
        assert all(host == container for host, container in pairs), name


@pytest.mark.parametrize("name", sorted(HTTP_SERVICES))
def test_service_runs_its_package_and_checks_its_own_port(
    compose: dict[str, Any], name: str
) -> None:
    port, package = HTTP_SERVICES[name]
    service = compose["services"][name]
    prefix = package.upper()
    assert service["command"] == ["python", "-m", package]
    assert service["build"]["dockerfile"] == "deploy/Dockerfile"
    assert service["environment"][f"{prefix}_HOST"] == "0.0.0.0"
    assert service["environment"][f"{prefix}_PORT"] == str(port)
    assert service["environment"]["SWITCHBOARD_KAFKA_ENABLE_IDEMPOTENCE"] == "true"
    assert f"127.0.0.1:{port}/healthz" in " ".join(service["healthcheck"]["test"])
    assert service["restart"] == "unless-stopped"


def test_required_secrets_fail_loudly_and_provider_secrets_are_optional(
    compose: dict[str, Any],
) -> None:
    store = compose["services"]["crm-store"]["environment"]
    assert re.fullmatch(
        r"\$\{CRM_STORE_BOOTSTRAP_ADMIN_TOKEN:\?.+\}", store["CRM_STORE_BOOTSTRAP_ADMIN_TOKEN"]
    )
    assert store["CRM_STORE_DATABASE_URL"].startswith("postgresql+asyncpg://")
    calls = compose["services"]["ingest-calls"]["environment"]
    secrets = [key for key in calls if re.search(r"_(TOKEN|SECRET|KEY)$", key)]
    assert len(secrets) == 9
    for key in secrets:
        assert calls[key] == f"${{{key}:-}}", key


def test_prometheus_scrapes_every_service() -> None:
    config = yaml.safe_load(PROMETHEUS.read_text(encoding="utf-8"))
    targets = {
        target
        for job in config["scrape_configs"]
        for static in job.get("static_configs", [])
        for target in static["targets"]
    }
    for name, (port, _) in HTTP_SERVICES.items():
        assert f"{name}:{port}" in targets


def test_promtool_accepts_the_prometheus_config() -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        message = "promtool is not installed (Debian package prometheus)"
        if require_infra():
            pytest.fail(f"{message}; SWITCHBOARD_REQUIRE_INFRA=1")
        pytest.skip(message)
    result = subprocess.run(
        [promtool, "check", "config", str(PROMETHEUS)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
