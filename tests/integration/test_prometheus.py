"""A real Prometheus scrapes the running services and counts the calls this test sent through.

The four services run as processes on their own broker (so no other test's events are counted)
and their own SQLite database. Prometheus (Debian's `prometheus`) runs with
deploy/prometheus/prometheus.yml, its targets pointed at those processes and its intervals cut
to a second, and with the alert rules of deploy/prometheus/rules/. The test posts signed calls,
then asks Prometheus' HTTP API for the counts each stage exported, checks that the rules load
and that the alert for rejected input fires, and runs every query of the Grafana dashboard.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
import yaml

from ingest_calls.domain.generic import sign
from support import promql
from support.broker import start_broker
from support.infra import missing_infra
from support.ports import free_port
from support.stack import ADMIN_TOKEN, GENERIC_SECRET, Stack, make_stack
from switchboard_shared.admin import create_topics
from switchboard_shared.settings import CommonSettings

# One stack and one Prometheus for the module: keep its tests on one xdist worker. The module's
# start (broker, four services, Prometheus) has deadlines of its own; each test's waits share
# one deadline, BUDGET_S, well inside the test timeout, so a slow run fails with what it
# waited for rather than being killed.
pytestmark = [
    pytest.mark.integration,
    pytest.mark.xdist_group("prometheus"),
    pytest.mark.timeout(120, func_only=True),
]
BUDGET_S = 100.0

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS_CONFIG = ROOT / "deploy" / "prometheus" / "prometheus.yml"
RULES = ROOT / "deploy" / "prometheus" / "rules"
JOBS = {  # scrape job (as in prometheus.yml) -> the stack's module
    "ingest-calls": "ingest_calls",
    "ingest-mail": "ingest_mail",
    "classifier": "classifier",
    "crm-store": "crm_store",
}
CALLS = 4  # distinct missed calls sent through


@dataclass
class PrometheusServer:
    process: subprocess.Popen[bytes]
    url: str
    log_path: Path

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def scrape_config(stack: Stack, port: int) -> dict[str, Any]:
    """deploy/prometheus/prometheus.yml with the stack's addresses and one-second intervals."""
    config: dict[str, Any] = yaml.safe_load(PROMETHEUS_CONFIG.read_text(encoding="utf-8"))
    config["global"] = {"scrape_interval": "1s", "evaluation_interval": "1s"}
    config["rule_files"] = [str(RULES / "*.yml")]
    for job in config["scrape_configs"]:
        name = job["job_name"]
        target = (
            f"127.0.0.1:{port}"
            if name == "prometheus"
            else f"127.0.0.1:{stack.services[JOBS[name]].port}"
        )
        job["static_configs"] = [{"targets": [target]}]
    assert {j["job_name"] for j in config["scrape_configs"]} == {"prometheus", *JOBS}
    return config


def start_prometheus(workdir: Path, config: dict[str, Any], port: int) -> PrometheusServer:
    binary = shutil.which("prometheus")
    assert binary is not None
    config_path = workdir / "prometheus.yml"
    config_path.write_text(yaml.safe_dump(config), encoding="utf-8")
    log_path = workdir / "prometheus.log"
    process = subprocess.Popen(
        [
            binary,
            f"--config.file={config_path}",
            f"--storage.tsdb.path={workdir / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--log.level=warn",
        ],
        stdout=log_path.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    server = PrometheusServer(process, f"http://127.0.0.1:{port}", log_path)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"prometheus exited: {log_path.read_text()[-2000:]}")
        try:
            if httpx.get(f"{server.url}/-/ready", timeout=1).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    server.stop()
    raise RuntimeError(f"prometheus not ready: {log_path.read_text()[-2000:]}")


@dataclass
class Observed:
    stack: Stack
    prometheus: PrometheusServer


@pytest.fixture(scope="module")
def prometheus_binary() -> None:
    if shutil.which("prometheus") is None:
        missing_infra("prometheus is not installed (Debian package prometheus)")


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def observed(
    prometheus_binary: None, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Observed]:
    workdir = tmp_path_factory.mktemp("observed")
    broker = start_broker(workdir / "broker.log")
    try:
        await create_topics(CommonSettings(kafka_bootstrap=broker.bootstrap))
        stack = make_stack(
            workdir,
            bootstrap=broker.bootstrap,
            database_url=f"sqlite+aiosqlite:///{workdir / 'crm.db'}",
            secrets={
                "INGEST_CALLS_GENERIC_HMAC_SECRET": GENERIC_SECRET,
                "CRM_STORE_BOOTSTRAP_ADMIN_TOKEN": ADMIN_TOKEN,
            },
        )
        # state files in this test's directory, not in the working directory's var/
        stack.env["INGEST_MAIL_DATABASE_URL"] = f"sqlite+aiosqlite:///{workdir / 'ingest-mail.db'}"
        await asyncio.to_thread(stack.start)
        try:
            port = free_port()
            prometheus = await asyncio.to_thread(
                start_prometheus, workdir, scrape_config(stack, port), port
            )
            try:
                yield Observed(stack, prometheus)
            finally:
                prometheus.stop()
        finally:
            await asyncio.to_thread(stack.stop)
    finally:
        broker.stop()


# --- talking to the stack and to Prometheus -------------------------------------------------


def missed_call(number: str) -> bytes:
    start = datetime.now(UTC) - timedelta(seconds=40)
    call = {
        "id": f"prom-{uuid.uuid4().hex[:10]}",
        "direction": "inbound",
        "status": "no_answer",
        "from": number,
        "to": "+14155550100",
        "started_at": start.isoformat(),
        "ended_at": (start + timedelta(seconds=30)).isoformat(),
    }
    return json.dumps(call).encode()


async def post_call(stack: Stack, body: bytes, secret: str = GENERIC_SECRET) -> httpx.Response:
    timestamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        "X-Switchboard-Timestamp": timestamp,
        "X-Switchboard-Signature": sign(secret, timestamp, body),
    }
    async with httpx.AsyncClient(base_url=stack.url("ingest_calls")) as client:
        return await client.post("/webhooks/generic", content=body, headers=headers)


async def api(prometheus: PrometheusServer, path: str, **params: str) -> Any:
    async with httpx.AsyncClient(base_url=prometheus.url, timeout=10) as client:
        response = await client.get(f"/api/v1/{path}", params=params)
    body = response.json()
    assert body["status"] == "success", f"{path} {params}: {body}"
    return body["data"]


async def scalar(prometheus: PrometheusServer, expr: str) -> float | None:
    """The value of a query that yields at most one series (None for no series)."""
    data = await api(prometheus, "query", query=expr)
    assert data["resultType"] == "vector", data
    if not data["result"]:
        return None
    [series] = data["result"]
    return float(series["value"][1])


@dataclass(frozen=True)
class Deadline:
    """One test's waits share this: together they cannot outlast the test's timeout."""

    at: float

    @classmethod
    def of_test(cls) -> Deadline:
        return cls(time.monotonic() + BUDGET_S)

    def check(self, what: str) -> None:
        assert time.monotonic() < self.at, f"{what}, within the test's {BUDGET_S:.0f}s"


async def eventually_equal(
    prometheus: PrometheusServer, expr: str, expected: float, deadline: Deadline
) -> None:
    value = await scalar(prometheus, expr)
    while value != expected:
        deadline.check(f"{expr} = {value}, expected {expected}")
        await asyncio.sleep(0.5)
        value = await scalar(prometheus, expr)


# Each stage's output and what the next stage made of it: equal once nothing is in flight.
PIPELINE = [
    (
        'sum(ingest_calls_events_published_total{topic="calls.recorded.v1"})',
        'sum(classifier_messages_total{topic="calls.recorded.v1", outcome="processed"})',
    ),
    (
        'sum(classifier_events_published_total{topic="interactions.classified.v1"})',
        'sum(crm_store_messages_total{topic="interactions.classified.v1", outcome="processed"})',
    ),
]


async def settled(prometheus: PrometheusServer, deadline: Deadline) -> None:
    """Until what was sent before now has gone through every stage, as Prometheus sees it:
    every job scraped since now, and each stage's output consumed by the next."""
    now = time.time()
    for job in JOBS:
        expr = f'timestamp(up{{job="{job}"}})'
        while ((await scalar(prometheus, expr)) or 0.0) <= now:
            deadline.check(f"{job} not scraped again")
            await asyncio.sleep(0.5)
    for upstream, downstream in PIPELINE:
        while (a := (await scalar(prometheus, upstream)) or 0.0) != (
            b := (await scalar(prometheus, downstream)) or 0.0
        ):
            deadline.check(f"{upstream} = {a} but {downstream} = {b}")
            await asyncio.sleep(0.5)


def numbers() -> Iterator[str]:
    while True:
        yield f"+1415556{uuid.uuid4().int % 10_000:04d}"


# --- the test ---------------------------------------------------------------------------------


async def test_prometheus_counts_the_events_sent_through(observed: Observed) -> None:
    stack, prometheus = observed.stack, observed.prometheus
    deadline = Deadline.of_test()
    for job in JOBS:
        await eventually_equal(prometheus, f'up{{job="{job}"}}', 1, deadline)

    expected = {
        # ingest-calls: every answered request, each call once, the retry as a duplicate
        'sum(ingest_calls_webhooks_total{provider="generic", outcome="accepted"})': CALLS + 1,
        'sum(ingest_calls_call_events_total{kind="final", status="published"})': CALLS,
        'sum(ingest_calls_call_events_total{kind="final", status="duplicate"})': 1,
        'sum(ingest_calls_webhooks_total{provider="generic", outcome="unauthorized"})': 1,
        'sum(ingest_calls_rejected_total{reason="invalid_payload"})': 1,
        'sum(ingest_calls_events_published_total{topic="calls.recorded.v1"})': CALLS,
        # classifier: each call consumed and judged once, a missed call asks for a callback
        'sum(classifier_messages_total{topic="calls.recorded.v1", outcome="processed"})': CALLS,
        'sum(classifier_verdicts_total{kind="call", disposition="callback"})': CALLS,
        'sum(classifier_events_published_total{topic="interactions.classified.v1"})': CALLS,
        # crm-store: each stored once and a callback opened for each
        'sum(crm_store_messages_total{topic="interactions.classified.v1", outcome="processed"})': (
            CALLS
        ),
        'sum(crm_store_activity_changes_total{kind="callback", change="opened"})': CALLS,
    }
    # Other tests of this module may already have sent calls through the same stack: count
    # from where the series stand once those have gone through.
    stored_expr = 'sum(crm_store_interactions_total{kind="call", outcome="stored"})'
    watched = [*expected, stored_expr]
    await settled(prometheus, deadline)
    baseline = {expr: (await scalar(prometheus, expr)) or 0.0 for expr in watched}

    sent = [missed_call(number) for number, _ in zip(numbers(), range(CALLS), strict=False)]
    for body in sent:
        response = await post_call(stack, body)
        assert response.status_code == 200, response.text
    duplicate = await post_call(stack, sent[0])  # a provider's retry
    assert duplicate.json()["accepted"][0]["outcome"] == "duplicate"
    unsigned = await post_call(stack, missed_call("+14155550199"), secret="x" * 32)
    assert unsigned.status_code == 401
    malformed = await post_call(stack, b'{"id": "prom-bad", "status": "no_answer"}')
    assert malformed.status_code == 422, malformed.text

    # the last stage first: once crm-store counted every call, the earlier stages have too
    stored = 'sum(crm_store_interactions_total{kind="call", outcome="stored"})'
    await eventually_equal(prometheus, stored, baseline[stored_expr] + CALLS, deadline)
    for expr, count in expected.items():
        await eventually_equal(prometheus, expr, baseline[expr] + count, deadline)

    # the series carry the job names the alerts and the dashboard select by
    jobs = await api(prometheus, "label/job/values")
    assert set(JOBS) <= set(jobs)
    by_job = await api(prometheus, "query", query="sum by (job) (ingest_calls_webhooks_total)")
    assert [s["metric"]["job"] for s in by_job["result"]] == ["ingest-calls"]


async def test_the_alert_rules_load_evaluate_and_fire(observed: Observed) -> None:
    prometheus = observed.prometheus
    deadline = Deadline.of_test()
    alerts = {rule["alert"] for rule in promql.alert_rules() if "alert" in rule}

    async def evaluated_rules() -> list[dict[str, Any]]:
        groups = (await api(prometheus, "rules"))["groups"]
        return [rule for group in groups for rule in group["rules"]]

    rules = await evaluated_rules()
    while any(r["lastEvaluation"].startswith("0001") for r in rules):
        deadline.check("rules not evaluated")
        await asyncio.sleep(0.5)
        rules = await evaluated_rules()
    assert {r["name"] for r in rules} == alerts
    for rule in rules:
        assert rule["health"] == "ok", f"{rule['name']}: {rule.get('lastError')}"

    # the rejected request of the other test (or this one's) raises SwitchboardInputRejected
    if await scalar(prometheus, "sum(ingest_calls_rejected_total)") is None:
        response = await post_call(observed.stack, b'{"id": "prom-bad-2", "status": "busy"}')
        assert response.status_code == 422

    async def firing() -> set[tuple[str, str]]:
        data = await api(prometheus, "alerts")
        return {
            (a["labels"]["alertname"], a["labels"].get("reason", ""))
            for a in data["alerts"]
            if a["state"] == "firing"
        }

    while ("SwitchboardInputRejected", "invalid_payload") not in await firing():
        deadline.check(f"not firing; firing: {await firing()}")
        await asyncio.sleep(0.5)
    assert not {name for name, _ in await firing()} & {
        "SwitchboardServiceDown",
        "SwitchboardBrokerUnreachable",
        "SwitchboardDatabaseDown",
    }


async def test_every_dashboard_query_runs(observed: Observed) -> None:
    prometheus = observed.prometheus
    for where, expr in promql.queries():
        if where.startswith("rule "):
            continue
        for variable, value in promql.GRAFANA_VARIABLES.items():
            expr = expr.replace(variable, value)
        await api(prometheus, "query", query=expr)  # asserts status success
    # a panel a newcomer looks at first shows the calls that came in: this test's own call,
    # counted once (other tests of this module may have sent theirs before)
    deadline = Deadline.of_test()
    expr = 'sum(ingest_calls_call_events_total{kind="final", status="published"})'
    await settled(prometheus, deadline)
    before = (await scalar(prometheus, expr)) or 0.0
    response = await post_call(observed.stack, missed_call("+14155550177"))
    assert response.status_code == 200, response.text
    await eventually_equal(prometheus, expr, before + 1, deadline)


async def test_every_metric_used_is_on_a_running_services_metrics_page(
    observed: Observed,
) -> None:
    families: dict[str, str] = {}
    async with httpx.AsyncClient() as client:
        for module in JOBS.values():
            page = await client.get(f"{observed.stack.url(module)}/metrics")
            assert page.status_code == 200
            families |= promql.families_in_exposition(page.text)

    def served(name: str) -> bool:
        if name in families or name in promql.BUILTIN:
            return True
        for suffix in ("_bucket", "_sum", "_count"):
            if name.endswith(suffix) and families.get(name.removesuffix(suffix)) == "histogram":
                return True
        return False

    missing = {
        f"{where}: {selector.metric}"
        for where, expr in promql.queries()
        for selector in promql.parse(expr).selectors
        if selector.metric and not served(selector.metric)
    }
    assert not missing, "\n".join(sorted(missing))
