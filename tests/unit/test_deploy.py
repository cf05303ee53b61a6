"""The deployment files, checked without a Docker engine or a cluster.

docker-compose.yml against the Compose Specification; the Dockerfiles (deploy/docker/) against the
services they run; Prometheus' config and alert rules with promtool (including the rules' unit
tests); the Grafana provisioning and dashboard; the Kubernetes manifests (deploy/k8s/) rendered
by `kubectl kustomize` and cross-checked against the images, ports and routes that exist; and
every metric the dashboard and the alerts use against what the services register at run time.
"""

from __future__ import annotations

import importlib
import json
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from support import promql
from support.infra import missing_infra

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
DOCKER_DIR = ROOT / "deploy" / "docker"
PROMETHEUS_DIR = ROOT / "deploy" / "prometheus"
PROMETHEUS = PROMETHEUS_DIR / "prometheus.yml"
GRAFANA_DIR = ROOT / "deploy" / "grafana"
K8S_DIR = ROOT / "deploy" / "k8s"
OPERATIONS = ROOT / "docs" / "operations.md"


@dataclass(frozen=True)
class ServiceSpec:
    package: str
    ports: tuple[int, ...]  # HTTP first
    consumer: bool


# DESIGN.md, "Ports and commands".
SERVICES = {
    "ingest-calls": ServiceSpec("ingest_calls", (8001,), consumer=False),
    "ingest-mail": ServiceSpec("ingest_mail", (8002, 8025), consumer=False),
    "classifier": ServiceSpec("classifier", (8003,), consumer=True),
    "crm-store": ServiceSpec("crm_store", (8004,), consumer=True),
}
DESIGN_PORTS = {"kafka": {9092}, "prometheus": {9090}, "grafana": {3000}} | {
    name: set(spec.ports) for name, spec in SERVICES.items()
}
IMAGE_UID = 10001
SECRET_NAME = "switchboard-secrets"


def venv_tool(name: str) -> str | None:
    """A console script next to this interpreter (the venv's), else on PATH."""
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.exists() else shutil.which(name)


def need_tool(name: str, package: str) -> str:
    tool = shutil.which(name)
    if tool is None:
        missing_infra(f"{name} is not installed ({package})")
    return tool


def run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, check=False, cwd=ROOT)


def settings_default(package: str, name: str) -> Any:
    config = importlib.import_module(f"{package}.config")
    return config.Settings.model_fields[name].default


# --- Dockerfiles ----------------------------------------------------------------------------


@dataclass
class Dockerfile:
    instructions: list[tuple[str, str]]
    env: dict[str, str] = field(default_factory=dict)

    @classmethod
    def read(cls, path: Path) -> Dockerfile:
        text = re.sub(r"\\\n", " ", path.read_text(encoding="utf-8"))
        instructions = []
        for line in text.splitlines():
            line = line.strip()
            if line and not line.startswith("#"):
                keyword, _, rest = line.partition(" ")
                instructions.append((keyword.upper(), rest.strip()))
        parsed = cls(instructions)
        for keyword, rest in instructions:
            if keyword == "ENV":
                parsed.env.update(dict(pair.split("=", 1) for pair in rest.split()))
        return parsed

    def all(self, keyword: str) -> list[str]:
        return [rest for kw, rest in self.instructions if kw == keyword]

    def last(self, keyword: str) -> str:
        found = self.all(keyword)
        assert found, f"no {keyword}"
        return found[-1]

    def runtime(self) -> list[tuple[str, str]]:
        """The instructions of the final stage."""
        starts = [i for i, (kw, _) in enumerate(self.instructions) if kw == "FROM"]
        return self.instructions[starts[-1] :]

    def exec_form(self, keyword: str) -> list[str]:
        rest = self.last(keyword)
        if keyword == "HEALTHCHECK":
            rest = rest[rest.index("CMD") + 3 :].strip()
        value: list[str] = json.loads(rest)
        return value


def dockerfile_of(name: str) -> Path:
    return DOCKER_DIR / f"{name}.Dockerfile"


def test_there_is_one_dockerfile_per_service_and_nothing_else() -> None:
    assert sorted(p.name for p in DOCKER_DIR.iterdir()) == sorted(
        f"{name}.Dockerfile" for name in SERVICES
    )
    assert not (ROOT / "deploy" / "Dockerfile").exists()


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_dockerfile_runs_its_service_unprivileged_with_a_health_check(name: str) -> None:
    spec = SERVICES[name]
    docker = Dockerfile.read(dockerfile_of(name))
    prefix = spec.package.upper()
    runtime = dict(docker.runtime())
    # slim base, multi-stage: the build tools stay in the build stage
    assert all("slim" in arg or arg.startswith("${PYTHON_IMAGE}") for arg in docker.all("FROM"))
    assert any(line.startswith("ARG PYTHON_IMAGE=python:3.11-slim") for line in _lines(name))
    assert runtime.get("COPY", "").startswith("--from=build")
    # only what the service needs is in the build context it copies
    copies = {rest.split()[0] for rest in docker.all("COPY") if not rest.startswith("--from")}
    assert copies == {"constraints.txt", "shared/", f"services/{name}/"}
    assert f"./shared ./services/{name}" in " ".join(docker.all("RUN"))
    # non-root, numeric so Kubernetes' runAsNonRoot can verify it
    assert docker.last("USER") == f"{IMAGE_UID}:{IMAGE_UID}"
    assert f"--uid {IMAGE_UID}" in " ".join(docker.all("RUN"))
    # listens on all interfaces, on the port the service defaults to
    assert docker.env[f"{prefix}_HOST"] == "0.0.0.0"
    assert docker.env[f"{prefix}_PORT"] == str(settings_default(spec.package, "port"))
    assert {int(p) for p in docker.last("EXPOSE").split()} == set(spec.ports)
    if name == "ingest-mail":
        assert docker.env["INGEST_MAIL_LMTP_PORT"] == str(
            settings_default(spec.package, "lmtp_port")
        )
    check = " ".join(docker.exec_form("HEALTHCHECK"))
    assert "/healthz" in check
    assert f"{prefix}_PORT" in check
    assert docker.exec_form("CMD") == ["python", "-m", spec.package]


def _lines(name: str) -> list[str]:
    return dockerfile_of(name).read_text(encoding="utf-8").splitlines()


def test_dockerfiles_differ_only_in_the_service() -> None:
    def neutral(name: str) -> str:
        spec = SERVICES[name]
        text = dockerfile_of(name).read_text(encoding="utf-8")
        text = "\n".join(line for line in text.splitlines() if not line.startswith("#"))
        for port in spec.ports:
            text = text.replace(str(port), "PORT")
        text = re.sub(r" \\\n\s+INGEST_MAIL_LMTP_PORT=PORT", "", text)
        text = text.replace("EXPOSE PORT PORT", "EXPOSE PORT")
        text = text.replace(spec.package.upper(), "PREFIX")
        return text.replace(name, "SERVICE").replace(spec.package, "SERVICE")

    reference = neutral("classifier")
    for name in SERVICES:
        assert neutral(name) == reference, f"{name}.Dockerfile drifted from classifier's"


def declared_closure(project: Path, seen: set[str] | None = None) -> set[str]:
    """Distributions a pip install of `project` (and shared/) brings, by normalised name."""
    from importlib import metadata

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    pending: list[tuple[str, frozenset[str]]] = []
    for pyproject in (ROOT / "shared" / "pyproject.toml", project / "pyproject.toml"):
        text = pyproject.read_text(encoding="utf-8")
        block = re.search(r"^dependencies = \[(.*?)^\]", text, re.S | re.M)
        assert block, pyproject
        for requirement in re.findall(r'"([^"]+)"', block.group(1)):
            parsed = Requirement(requirement)
            pending.append((parsed.name, frozenset(parsed.extras)))
    seen = set() if seen is None else seen
    while pending:
        name, extras = pending.pop()
        key = canonicalize_name(name)
        if key in seen:
            continue
        seen.add(key)
        for line in metadata.requires(name) or []:
            requirement = Requirement(line)
            wanted = [{"extra": extra} for extra in extras] or [{"extra": ""}]
            if requirement.marker is None or any(requirement.marker.evaluate(e) for e in wanted):
                pending.append((requirement.name, frozenset(requirement.extras)))
    return seen


def third_party_imports(source: Path) -> set[str]:
    """Top-level modules imported at run time (not under TYPE_CHECKING) by the .py files."""
    import ast

    modules: set[str] = set()
    for path in source.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        skipped = {
            id(inner)
            for node in ast.walk(tree)
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
            for inner in ast.walk(node)
        }
        for node in ast.walk(tree):
            if id(node) in skipped:
                continue
            if isinstance(node, ast.Import):
                modules |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules.add(node.module.split(".")[0])
    own = {"switchboard_shared", *(spec.package for spec in SERVICES.values())}
    return modules - set(sys.stdlib_module_names) - own - {"__future__"}


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_the_image_installs_everything_the_service_imports(name: str) -> None:
    # Each image installs shared/ and its one service: a module imported but not declared in
    # their pyproject.toml dependencies works in the dev venv and fails in the container.
    from importlib import metadata

    from packaging.utils import canonicalize_name

    project = ROOT / "services" / name
    available = declared_closure(project)
    providers = metadata.packages_distributions()
    missing: dict[str, list[str]] = {}
    sources = [project / "src", ROOT / "shared" / "src"]
    for module in sorted(set().union(*(third_party_imports(s) for s in sources))):
        dists = {str(canonicalize_name(d)) for d in providers.get(module, [])}
        if not dists & available:
            missing[module] = sorted(dists) or ["not installed"]
    assert not missing, f"imported but not in the dependencies of {name} or shared: {missing}"


def test_dockerignore_lets_through_what_the_dockerfiles_copy() -> None:
    rules = (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    allowed = {line[1:] for line in rules if line.startswith("!")}
    assert "*" in rules
    assert {"constraints.txt", "shared/", "services/"} <= allowed


# --- docker-compose.yml ---------------------------------------------------------------------


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


def mounts(service: dict[str, Any]) -> dict[str, str]:
    """Container path -> host path of the bind mounts."""
    found = {}
    for volume in service.get("volumes", []):
        source, target, *_ = str(volume).split(":")
        if source.startswith("./"):
            found[target] = source[2:]
    return found


def test_compose_validates_against_the_compose_spec() -> None:
    tool = venv_tool("check-jsonschema")
    assert tool, "check-jsonschema is not installed (it is in requirements-dev.txt)"
    result = run(tool, "--builtin-schema", "vendor.compose-spec", str(COMPOSE))
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_long_running_service_has_a_healthcheck(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        if name in one_shots(compose):
            continue
        check = service.get("healthcheck", {})
        assert not check.get("disable"), f"{name} disables its healthcheck"
        if check.get("test"):
            continue
        # else the image's HEALTHCHECK applies
        dockerfile = service.get("build", {}).get("dockerfile")
        assert dockerfile, f"{name} has no healthcheck"
        assert Dockerfile.read(ROOT / dockerfile).all("HEALTHCHECK"), f"{name} has no healthcheck"


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
    assert compose["services"]["kafka-init"]["command"][:4] == [
        "python",
        "-m",
        "switchboard_shared.admin",
        "create-topics",
    ]
    assert compose["services"]["crm-store-migrate"]["command"] == [
        "python",
        "-m",
        "crm_store.migrate",
    ]


def test_published_ports_match_the_design(compose: dict[str, Any]) -> None:
    for name, ports in DESIGN_PORTS.items():
        pairs = published(compose["services"][name])
        assert {host for host, _ in pairs} == ports, name
        assert all(host == container for host, container in pairs), name


# What has no authentication of its own: published on the host's loopback only.
LOOPBACK_ONLY = {"kafka": {9092}, "prometheus": {9090}, "classifier": {8003}, "ingest-mail": {8025}}


def published_on(service: dict[str, Any]) -> dict[int, str]:
    """Host port -> the address it is published on ("" for every interface)."""
    found: dict[int, str] = {}
    for entry in service.get("ports", []):
        if isinstance(entry, dict):
            found[int(entry["published"])] = str(entry.get("host_ip", ""))
            continue
        parts = str(entry).split(":")
        found[int(parts[-2])] = parts[0] if len(parts) == 3 else ""
    return found


def test_nothing_without_authentication_is_published_beyond_loopback(
    compose: dict[str, Any],
) -> None:
    for name, service in compose["services"].items():
        for port, address in published_on(service).items():
            if port in LOOPBACK_ONLY.get(name, set()):
                assert address == "127.0.0.1", f"{name}:{port} is published on {address or '*'}"
    assert "ports" not in compose["services"]["postgres"]


def test_our_containers_are_read_only_without_capabilities_and_bounded(
    compose: dict[str, Any],
) -> None:
    ours = set(SERVICES) | one_shots(compose)
    for name, service in compose["services"].items():
        assert service.get("mem_limit"), f"{name} has no memory limit"
        assert "no-new-privileges:true" in service.get("security_opt", []), name
        if name in ours:
            assert service["read_only"] is True, name
            assert service["cap_drop"] == ["ALL"], name
            assert any(t.startswith("/tmp") for t in service["tmpfs"]), name
    # the same memory as the Kubernetes limits
    for name in SERVICES:
        limit = compose["services"][name]["mem_limit"]
        k8s = yaml.safe_load_all((K8S_DIR / "base" / f"{name}.yaml").read_text())
        [deployment] = [d for d in k8s if d and d["kind"] == "Deployment"]
        [container] = deployment["spec"]["template"]["spec"]["containers"]
        expected = container["resources"]["limits"]["memory"]
        assert limit.lower().rstrip("b") == expected.lower().rstrip("i"), name


def test_the_mail_intake_token_is_required_by_compose(compose: dict[str, Any]) -> None:
    mail = compose["services"]["ingest-mail"]["environment"]
    assert re.fullmatch(r"\$\{INGEST_MAIL_HTTP_TOKEN:\?.+\}", mail["INGEST_MAIL_HTTP_TOKEN"])


def test_kafka_runs_in_kraft_mode_from_an_official_image(compose: dict[str, Any]) -> None:
    kafka = compose["services"]["kafka"]
    assert kafka["image"].startswith("apache/kafka:")
    assert kafka["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert kafka["environment"]["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_service_runs_its_own_image_on_its_own_port(compose: dict[str, Any], name: str) -> None:
    spec = SERVICES[name]
    service = compose["services"][name]
    prefix = spec.package.upper()
    assert service["build"] == {"context": ".", "dockerfile": f"deploy/docker/{name}.Dockerfile"}
    assert service["image"].startswith(f"switchboard/{name}:")
    assert "command" not in service  # the image's CMD
    assert service["environment"][f"{prefix}_HOST"] == "0.0.0.0"
    assert service["environment"][f"{prefix}_PORT"] == str(spec.ports[0])
    assert service["environment"]["SWITCHBOARD_KAFKA_ENABLE_IDEMPOTENCE"] == "true"
    assert service["restart"] == "unless-stopped"


def test_one_shots_use_the_image_that_contains_them(compose: dict[str, Any]) -> None:
    store = compose["services"]["crm-store"]
    for name in one_shots(compose):
        assert compose["services"][name]["image"] == store["image"], name
        assert compose["services"][name]["build"] == store["build"], name


def test_required_secrets_fail_loudly_and_provider_secrets_are_optional(
    compose: dict[str, Any],
) -> None:
    store = compose["services"]["crm-store"]["environment"]
    assert re.fullmatch(
        r"\$\{CRM_STORE_BOOTSTRAP_ADMIN_TOKEN:\?.+\}", store["CRM_STORE_BOOTSTRAP_ADMIN_TOKEN"]
    )
    assert store["CRM_STORE_DATABASE_URL"].startswith("postgresql+asyncpg://")
    grafana = compose["services"]["grafana"]["environment"]
    assert re.fullmatch(r"\$\{GRAFANA_ADMIN_PASSWORD:\?.+\}", grafana["GF_SECURITY_ADMIN_PASSWORD"])
    calls = compose["services"]["ingest-calls"]["environment"]
    secrets = [key for key in calls if re.search(r"_(TOKEN|SECRET|KEY)$", key)]
    assert len(secrets) == 9
    for key in secrets:
        assert calls[key] == f"${{{key}:-}}", key


def test_prometheus_and_grafana_mount_what_exists(compose: dict[str, Any]) -> None:
    prometheus = mounts(compose["services"]["prometheus"])
    assert prometheus["/etc/prometheus/prometheus.yml"] == "deploy/prometheus/prometheus.yml"
    assert prometheus["/etc/prometheus/rules"] == "deploy/prometheus/rules"
    grafana = mounts(compose["services"]["grafana"])
    assert grafana["/etc/grafana/provisioning"] == "deploy/grafana/provisioning"
    provider = yaml.safe_load(
        (GRAFANA_DIR / "provisioning" / "dashboards" / "switchboard.yml").read_text()
    )["providers"][0]
    dashboards_at = provider["options"]["path"]
    assert grafana[dashboards_at] == "deploy/grafana/dashboards"
    home = compose["services"]["grafana"]["environment"][
        "GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"
    ]
    assert (ROOT / grafana[dashboards_at] / Path(home).relative_to(dashboards_at)).is_file()
    for host in {*prometheus.values(), *grafana.values()}:
        assert (ROOT / host).exists(), host


# --- Prometheus -----------------------------------------------------------------------------


def test_prometheus_scrapes_every_service_under_its_name() -> None:
    config = yaml.safe_load(PROMETHEUS.read_text(encoding="utf-8"))
    jobs = {
        job["job_name"]: {t for s in job.get("static_configs", []) for t in s["targets"]}
        for job in config["scrape_configs"]
    }
    for name, spec in SERVICES.items():
        assert jobs[name] == {f"{name}:{spec.ports[0]}"}
    assert config["rule_files"] == ["rules/*.yml"]


def test_promtool_accepts_the_config_and_the_rules() -> None:
    promtool = need_tool("promtool", "Debian package prometheus")
    result = run(promtool, "check", "config", str(PROMETHEUS))
    assert result.returncode == 0, result.stdout + result.stderr
    rules = sorted(str(p) for p in (PROMETHEUS_DIR / "rules").glob("*.yml"))
    result = run(promtool, "check", "rules", *rules)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_alert_rules_pass_their_unit_tests() -> None:
    promtool = need_tool("promtool", "Debian package prometheus")
    tests = sorted(str(p) for p in (PROMETHEUS_DIR / "tests").glob("*.yml"))
    assert tests
    result = run(promtool, "test", "rules", *tests)
    assert result.returncode == 0, result.stdout + result.stderr


def alert_tests() -> list[dict[str, Any]]:
    cases = []
    for path in sorted((PROMETHEUS_DIR / "tests").glob("*.yml")):
        for group in yaml.safe_load(path.read_text(encoding="utf-8"))["tests"]:
            cases.extend(group.get("alert_rule_test", []))
    return cases


def test_every_alert_is_tested_firing_and_quiet() -> None:
    alerts = {rule["alert"] for rule in promql.alert_rules() if "alert" in rule}
    firing = {case["alertname"] for case in alert_tests() if case.get("exp_alerts")}
    quiet = {case["alertname"] for case in alert_tests() if not case.get("exp_alerts")}
    assert alerts == firing
    assert alerts == quiet


def github_anchors(markdown: str) -> set[str]:
    anchors = set()
    for line in markdown.splitlines():
        if line.startswith("#"):
            title = line.lstrip("#").strip().lower()
            anchors.add(re.sub(r"[^\w\- ]", "", title).replace(" ", "-"))
    return anchors


def test_every_alert_says_how_bad_it_is_and_where_its_runbook_is() -> None:
    anchors = github_anchors(OPERATIONS.read_text(encoding="utf-8"))
    for rule in promql.alert_rules():
        if "alert" not in rule:
            continue
        name = rule["alert"]
        assert rule["labels"]["severity"] in {"critical", "warning"}, name
        assert {"summary", "description", "runbook_url"} <= set(rule["annotations"]), name
        document, _, anchor = rule["annotations"]["runbook_url"].partition("#")
        assert document == "docs/operations.md", name
        assert anchor in anchors, f"{name}: docs/operations.md has no section #{anchor}"


# --- every metric the dashboard and the alerts use exists -----------------------------------


@pytest.fixture(scope="module")
def exported() -> dict[str, promql.Exported]:
    return promql.exported_metrics()


def test_every_metric_the_dashboard_and_the_alerts_use_is_exported(
    exported: dict[str, promql.Exported],
) -> None:
    used = list(promql.queries())
    assert len(used) > 40
    found = [problem for where, expr in used for problem in promql.problems(where, expr, exported)]
    assert not found, "\n".join(found)


def test_the_dashboard_shows_every_service(exported: dict[str, promql.Exported]) -> None:
    prefixes = {spec.package + "_" for spec in SERVICES.values()}
    shown = {
        selector.metric
        for _, dashboard in promql.dashboards()
        for panel in promql.dashboard_panels(dashboard)
        for target in panel.get("targets", [])
        for selector in promql.parse(target["expr"]).selectors
    }
    for prefix in prefixes:
        assert any(name and name.startswith(prefix) for name in shown), prefix


def test_the_query_reader_sees_metrics_labels_and_grouping() -> None:
    query = promql.parse(
        "sum by (le, provider)"
        ' (rate(a_bucket{route="/webhooks/{provider}", x=~"1|2"}[$__rate_interval]))'
        " / on (job) group_left sum(b_total offset 5m)"
        ' or label_replace(vector(0), "dst", "", "", "")'
    )
    assert [(s.metric, s.labels) for s in query.selectors] == [
        ("a_bucket", {"route": "/webhooks/{provider}", "x": "1|2"}),
        ("b_total", {}),
    ]
    assert query.grouping == {"le", "provider", "job"}
    assert query.made_labels == {"dst"}
    catalog = {"a_bucket": promql.Exported("a", "histogram", frozenset({"route"}))}
    assert promql.problems("here", 'sum by (tag) (a_bucket{nope="1"}) + c', catalog) == [
        "here: a_bucket has no label 'nope' (it has ['instance', 'job', 'le', 'route'])",
        "here: no service exports c",
        "here: groups by 'tag', which none of its metrics has",
    ]


def test_operations_doc_lists_every_metric_the_services_export(
    exported: dict[str, promql.Exported],
) -> None:
    documented = OPERATIONS.read_text(encoding="utf-8")
    prefixes = [spec.package for spec in SERVICES.values()]
    missing = set()
    for exported_metric in exported.values():
        family, kind = exported_metric.family, exported_metric.kind
        prefix = next((p for p in prefixes if family.startswith(p + "_")), None)
        if prefix is None:
            continue  # process_* and python_* from prometheus_client
        name = family + {"counter": "_total", "info": "_info"}.get(kind, "")
        if name not in documented and "<prefix>" + name[len(prefix) :] not in documented:
            missing.add(name)
    assert not missing, f"docs/operations.md, Metrics, does not list {sorted(missing)}"


# --- Grafana --------------------------------------------------------------------------------


def test_grafana_dashboard_uses_the_provisioned_datasource() -> None:
    datasources = yaml.safe_load(
        (GRAFANA_DIR / "provisioning" / "datasources" / "prometheus.yml").read_text()
    )["datasources"]
    [source] = datasources
    assert source["type"] == "prometheus"
    assert source["url"] == "http://prometheus:9090"
    dashboards = list(promql.dashboards())
    assert [name for name, _ in dashboards] == ["switchboard.json"]
    for _, dashboard in dashboards:
        for panel in promql.dashboard_panels(dashboard):
            for ref in [panel.get("datasource")] + [
                t.get("datasource") for t in panel.get("targets", [])
            ]:
                if ref is not None:
                    assert ref == {"type": "prometheus", "uid": source["uid"]}, panel["title"]


def test_grafana_dashboard_panels_are_explained_and_laid_out() -> None:
    [(_, dashboard)] = list(promql.dashboards())
    assert dashboard["uid"]
    assert dashboard["title"] == "Switchboard"
    panels = list(promql.dashboard_panels(dashboard))
    assert len({p["id"] for p in panels}) == len(panels)
    cells: set[tuple[int, int]] = set()
    for panel in panels:
        grid = panel["gridPos"]
        assert grid["x"] >= 0, panel["title"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        area = {
            (x, y)
            for x in range(grid["x"], grid["x"] + grid["w"])
            for y in range(grid["y"], grid["y"] + grid["h"])
        }
        assert not area & cells, f"{panel['title']} overlaps another panel"
        cells |= area
        if panel["type"] in {"row", "text"}:
            continue
        assert panel["description"], panel["title"]
        assert panel["targets"], panel["title"]
        assert all(t["expr"].strip() for t in panel["targets"]), panel["title"]
    titles = " ".join(p["title"].lower() for p in panels)
    for topic in ("calls in", "mail in", "auto-resolved", "opened", "closed", "p99", "lag"):
        assert topic in titles, topic


# --- Kubernetes -----------------------------------------------------------------------------


def pod_specs(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    specs = []
    for doc in docs:
        if doc["kind"] in {"Deployment", "StatefulSet", "DaemonSet", "Job"}:
            specs.append(doc["spec"]["template"]["spec"])
    return specs


def all_containers(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        container
        for spec in pod_specs(docs)
        for container in spec.get("initContainers", []) + spec["containers"]
    ]


def render(directory: Path) -> list[dict[str, Any]]:
    """`kubectl kustomize` of one directory; without kubectl the test skips (fails if strict)."""
    kubectl = need_tool("kubectl", "Debian package kubernetes-client")
    result = run(kubectl, "kustomize", str(directory))
    assert result.returncode == 0, f"kubectl kustomize {directory}: {result.stderr}"
    docs = [doc for doc in yaml.safe_load_all(result.stdout) if doc]
    assert docs, f"kubectl kustomize {directory} rendered nothing"
    return docs


OVERLAYS = sorted(p.parent for p in (K8S_DIR / "overlays").glob("*/kustomization.yaml"))


@pytest.fixture(scope="module", params=[K8S_DIR / "base", *OVERLAYS], ids=lambda p: p.name)
def manifests(request: pytest.FixtureRequest) -> list[dict[str, Any]]:
    return render(request.param)


def by_kind(docs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def image_service(image: str) -> str:
    """`registry/switchboard/crm-store:1.2` -> `crm-store`: the Dockerfile that builds it."""
    repository = image.rsplit(":", 1)[0] if ":" in image.rsplit("/", 1)[-1] else image
    owner, _, name = repository.rpartition("/")
    assert owner.endswith("switchboard"), image
    assert dockerfile_of(name).is_file(), f"{image}: no deploy/docker/{name}.Dockerfile"
    return name


def app_routes(package: str) -> set[str]:
    app_module = importlib.import_module(f"{package}.app")
    config = importlib.import_module(f"{package}.config")
    with pytest.MonkeyPatch.context() as env:
        # ingest-mail refuses to start without its intake token
        env.setenv("INGEST_MAIL_HTTP_TOKEN", "test-mail-token-0123456789abcdef")
        app = app_module.create_app(config.Settings())
    return {getattr(route, "path", "") for route in app.routes}


def source_documents(directory: Path) -> list[dict[str, Any]]:
    """The documents the resources of a kustomization (and of the ones it includes) name."""
    spec = yaml.safe_load((directory / "kustomization.yaml").read_text(encoding="utf-8"))
    docs: list[dict[str, Any]] = []
    for resource in spec.get("resources", []) + spec.get("bases", []):
        path = (directory / resource).resolve()
        if path.is_dir():
            docs.extend(source_documents(path))
        else:
            docs.extend(d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d)
    return docs


@pytest.mark.parametrize("directory", [K8S_DIR / "base", *OVERLAYS], ids=lambda p: p.name)
def test_kubectl_renders_every_resource_with_the_generated_config(directory: Path) -> None:
    """What kubectl renders is what the files say, plus the generated, hashed ConfigMap that
    every reference was rewritten to (so a changed setting rolls the Deployments)."""
    rendered = render(directory)
    expected = {(d["kind"], d["metadata"]["name"]) for d in source_documents(directory)}
    kinds = [(d["kind"], d["metadata"]["name"]) for d in rendered]
    assert len(kinds) == len(set(kinds)), f"a resource is rendered twice: {sorted(kinds)}"
    [config] = by_kind(rendered, "ConfigMap").values()
    assert re.fullmatch(r"switchboard-config-[a-z0-9]{10}", config["metadata"]["name"])
    assert set(kinds) == expected | {("ConfigMap", config["metadata"]["name"])}
    base = yaml.safe_load((K8S_DIR / "base" / "kustomization.yaml").read_text(encoding="utf-8"))
    [generator] = base["configMapGenerator"]
    assert set(config["data"]) == {item.split("=", 1)[0] for item in generator["literals"]}
    referenced = {
        source["configMapRef"]["name"]
        for container in all_containers(rendered)
        for source in container.get("envFrom", [])
    }
    assert referenced == {config["metadata"]["name"]}
    for doc in rendered:
        assert doc["apiVersion"], doc


def test_every_service_has_a_deployment_and_a_service(manifests: list[dict[str, Any]]) -> None:
    deployments = by_kind(manifests, "Deployment")
    services = by_kind(manifests, "Service")
    assert set(deployments) == set(SERVICES)
    assert set(services) == set(SERVICES)
    for name, service in services.items():
        pod_labels = deployments[name]["spec"]["template"]["metadata"]["labels"]
        assert service["spec"]["selector"].items() <= pod_labels.items(), name
        assert deployments[name]["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
        [container] = deployments[name]["spec"]["template"]["spec"]["containers"]
        names = {p["name"] for p in container["ports"]}
        assert {p["targetPort"] for p in service["spec"]["ports"]} <= names, name
        assert {p["port"] for p in service["spec"]["ports"]} == set(SERVICES[name].ports), name


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_deployment_runs_the_image_ports_and_probes_that_exist(
    manifests: list[dict[str, Any]], name: str
) -> None:
    spec = SERVICES[name]
    deployment = by_kind(manifests, "Deployment")[name]
    pod = deployment["spec"]["template"]
    [container] = pod["spec"]["containers"]
    docker = Dockerfile.read(dockerfile_of(image_service(container["image"])))
    assert image_service(container["image"]) == name
    assert container["command"] == docker.exec_form("CMD")
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports["http"] == spec.ports[0]
    assert set(ports.values()) == {int(p) for p in docker.last("EXPOSE").split()}
    env = {e["name"]: e.get("value") for e in container.get("env", [])}
    assert env[f"{spec.package.upper()}_PORT"] == str(spec.ports[0])
    routes = app_routes(spec.package)
    probes = {kind: container[kind] for kind in ("startupProbe", "livenessProbe", "readinessProbe")}
    for kind, probe in probes.items():
        assert probe["httpGet"]["port"] in ports, f"{name} {kind}"
        assert probe["httpGet"]["path"] in routes, f"{name} {kind}: no route"
    assert probes["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert probes["livenessProbe"]["httpGet"]["path"] == "/healthz"
    annotations = pod["metadata"]["annotations"]
    assert annotations["prometheus.io/port"] == str(spec.ports[0])
    assert annotations["prometheus.io/path"] in routes


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_deployment_is_sized_and_unprivileged(manifests: list[dict[str, Any]], name: str) -> None:
    pod = by_kind(manifests, "Deployment")[name]["spec"]["template"]["spec"]
    [container] = pod["containers"]
    resources = container["resources"]
    assert {"cpu", "memory"} <= set(resources["requests"]), name
    assert "memory" in resources["limits"], name
    context = pod["securityContext"]
    assert context["runAsNonRoot"] is True
    assert context["runAsUser"] == IMAGE_UID  # the image's USER
    assert context["seccompProfile"]["type"] == "RuntimeDefault"
    own = container["securityContext"]
    assert own["allowPrivilegeEscalation"] is False
    assert own["readOnlyRootFilesystem"] is True
    assert own["capabilities"]["drop"] == ["ALL"]
    assert pod["automountServiceAccountToken"] is False
    # with a read-only root, whatever the process writes goes to a volume
    mounted = {m["mountPath"] for m in container["volumeMounts"]}
    assert {"/tmp", "/app/var"} <= mounted


def volume_comments(path: Path) -> dict[str, str]:
    """The comment lines right above each `- name:` entry of a pod's `volumes:` list."""
    found: dict[str, str] = {}
    comment: list[str] = []
    inside = False
    for line in path.read_text(encoding="utf-8").splitlines():
        stripped = line.strip()
        if stripped == "volumes:":
            inside, comment = True, []
        elif inside and stripped.startswith("#"):
            comment.append(stripped.lstrip("# "))
        elif inside and stripped.startswith("- name:"):
            found[stripped.removeprefix("- name:").strip()] = " ".join(comment)
            comment = []
        elif inside and stripped and not line.startswith(" " * 10):
            inside = False
    return found


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_no_volume_of_a_service_holds_state_that_matters(
    manifests: list[dict[str, Any]], name: str
) -> None:
    """A pod can be deleted at any moment (rolling deploys, scale-down, node drains): its
    volumes are emptyDirs, and each says what it holds and why losing it is safe."""
    pod = by_kind(manifests, "Deployment")[name]["spec"]["template"]["spec"]
    assert all("emptyDir" in volume for volume in pod["volumes"]), name
    comments = volume_comments(K8S_DIR / "base" / f"{name}.yaml")
    for volume in pod["volumes"]:
        said = comments.get(volume["name"], "")
        assert len(said) > 40, f"{name}: say what volume {volume['name']} holds"
    assert not by_kind(manifests, "PersistentVolumeClaim")


def test_consumers_scale_with_an_hpa_up_to_the_partition_count(
    manifests: list[dict[str, Any]],
) -> None:
    deployments = by_kind(manifests, "Deployment")
    hpas = by_kind(manifests, "HorizontalPodAutoscaler")
    consumers = {name for name, spec in SERVICES.items() if spec.consumer}
    assert set(hpas) == consumers
    [config] = by_kind(manifests, "ConfigMap").values()
    partitions = int(config["data"]["SWITCHBOARD_TOPIC_PARTITIONS"])
    for name, hpa in hpas.items():
        target = hpa["spec"]["scaleTargetRef"]
        assert (target["kind"], target["name"]) == ("Deployment", name)
        assert 2 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"] <= partitions
        assert "replicas" not in deployments[name]["spec"], f"{name}: the HPA owns replicas"
    # ingest-mail keeps its IMAP checkpoints and mailbox leases in the database: replicas
    # share the mailboxes, and a rolling update starts a new pod before stopping an old one
    mail = deployments["ingest-mail"]["spec"]
    assert mail["replicas"] >= 2
    assert mail["strategy"]["type"] == "RollingUpdate"
    assert mail["strategy"]["rollingUpdate"]["maxUnavailable"] == 0


def test_the_init_job_creates_topics_then_migrates(manifests: list[dict[str, Any]]) -> None:
    [job] = by_kind(manifests, "Job").values()
    pod = job["spec"]["template"]["spec"]
    [topics] = pod["initContainers"]
    [migrate] = pod["containers"]
    assert topics["command"][:4] == ["python", "-m", "switchboard_shared.admin", "create-topics"]
    assert migrate["command"] == ["python", "-m", "crm_store.migrate"]
    for container in (topics, migrate):
        assert image_service(container["image"]) == "crm-store"
        assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["restartPolicy"] == "OnFailure"


def test_references_resolve(manifests: list[dict[str, Any]]) -> None:
    config_maps = by_kind(manifests, "ConfigMap")
    claims = by_kind(manifests, "PersistentVolumeClaim")
    accounts = by_kind(manifests, "ServiceAccount")
    secret_keys: dict[str, bool] = {}  # key -> required
    for pod in pod_specs(manifests):
        assert pod.get("serviceAccountName") in accounts
        for volume in pod.get("volumes", []):
            if "persistentVolumeClaim" in volume:
                assert volume["persistentVolumeClaim"]["claimName"] in claims
            if "configMap" in volume:
                assert volume["configMap"]["name"] in config_maps
        volumes = {v["name"] for v in pod.get("volumes", [])}
        for container in pod.get("initContainers", []) + pod["containers"]:
            for mount in container.get("volumeMounts", []):
                assert mount["name"] in volumes
            for source in container.get("envFrom", []):
                assert source["configMapRef"]["name"] in config_maps
            for entry in container.get("env", []):
                ref = entry.get("valueFrom", {})
                if "configMapKeyRef" in ref:
                    key_ref = ref["configMapKeyRef"]
                    assert key_ref["key"] in config_maps[key_ref["name"]]["data"]
                if "secretKeyRef" in ref:
                    key_ref = ref["secretKeyRef"]
                    # the one Secret is the operator's: never in the repository
                    assert key_ref["name"] == SECRET_NAME
                    assert key_ref["key"] == entry["name"]
                    required = not key_ref.get("optional", False)
                    secret_keys[key_ref["key"]] = secret_keys.get(key_ref["key"], False) or required
    assert not by_kind(manifests, "Secret")
    assert {key for key, required in secret_keys.items() if required} == {
        "CRM_STORE_DATABASE_URL",
        "INGEST_MAIL_DATABASE_URL",  # the IMAP checkpoints every replica reads
        "INGEST_MAIL_HTTP_TOKEN",  # ingest-mail does not start with an open intake
    }
    documented = OPERATIONS.read_text(encoding="utf-8")
    for key in secret_keys:
        assert key in documented, f"docs/operations.md does not mention the secret key {key}"


def test_network_policies_deny_by_default_and_open_only_what_is_used(
    manifests: list[dict[str, Any]],
) -> None:
    policies = by_kind(manifests, "NetworkPolicy")
    deny = policies["switchboard-default-deny"]["spec"]
    assert deny["podSelector"] == {}
    assert set(deny["policyTypes"]) == {"Ingress", "Egress"}
    assert "ingress" not in deny
    assert "egress" not in deny
    deployments = by_kind(manifests, "Deployment")

    def selects(policy: dict[str, Any], labels: dict[str, str]) -> bool:
        selector = policy["spec"]["podSelector"]  # {} selects every pod
        if not selector.get("matchLabels", {}).items() <= labels.items():
            return False
        for expression in selector.get("matchExpressions", []):
            assert expression["operator"] == "In"
            if labels.get(expression["key"]) not in expression["values"]:
                return False
        return True

    def ingress_ports(labels: dict[str, str]) -> set[str]:
        return {
            str(port["port"])
            for policy in policies.values()
            if "Ingress" in policy["spec"]["policyTypes"] and selects(policy, labels)
            for rule in policy["spec"].get("ingress", [])
            for port in rule.get("ports", [])
        }

    for name, deployment in deployments.items():
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        [container] = deployment["spec"]["template"]["spec"]["containers"]
        names = {p["name"] for p in container["ports"]}
        opened = ingress_ports(labels)
        assert opened <= names, f"{name}: a policy opens a port the pod does not name"
        assert "http" in opened, f"{name}: Prometheus cannot scrape it"
        if name == "ingest-mail":
            assert "lmtp" in opened
    # only the webhooks and crm-store take traffic from anywhere
    public = policies["switchboard-public-ingress"]["spec"]
    [expression] = public["podSelector"]["matchExpressions"]
    assert set(expression["values"]) == {"ingest-calls", "crm-store"}
    mail = policies["ingest-mail-ingress"]["spec"]["ingress"]
    assert all(rule.get("from") for rule in mail), "ingest-mail must not be open to everyone"
    dns = [
        port
        for rule in policies["switchboard-egress"]["spec"]["egress"]
        for port in rule["ports"]
        if port["port"] == 53
    ]
    assert {p["protocol"] for p in dns} == {"UDP", "TCP"}


def test_the_production_overlay_pins_images_and_a_namespace() -> None:
    [overlay] = [p for p in OVERLAYS if p.name == "production"]
    docs = render(overlay)
    assert {d["metadata"].get("namespace") for d in docs if d["kind"] != "Namespace"} == {
        "switchboard"
    }
    for container in all_containers(docs):
        assert not container["image"].endswith(":latest"), container["image"]
    assert by_kind(docs, "Deployment")["ingest-calls"]["spec"]["replicas"] == 3
    [config] = by_kind(docs, "ConfigMap").values()
    # the overlay's values merged into the base's generated settings
    assert config["data"]["SWITCHBOARD_KAFKA_BOOTSTRAP"] == "switchboard-kafka-bootstrap.kafka:9092"
    assert config["data"]["SWITCHBOARD_TOPIC_PARTITIONS"] == "6"
