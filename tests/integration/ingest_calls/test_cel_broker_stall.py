"""AMI events read while the broker does not answer are held, not dropped: on a broker of its
own, frozen with SIGSTOP while the PBX sends two calls; once it wakes, both calls are built,
once each and whole."""

from __future__ import annotations

import random
import secrets
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from ingest_calls.app import create_app
from ingest_calls.domain import asterisk, cel
from ingest_calls.domain.cel_assembly import calls_from
from ingest_calls.metrics import METRICS
from integration.ingest_calls.test_cel import ami_time
from integration.ingest_calls.webhooks import settings_for
from support.broker import start_broker
from support.cel_traces import SCENARIOS, Pbx
from support.conditions import eventually
from support.fake_ami import FakeAmi
from support.records import read_to_end
from switchboard_shared.admin import create_topics
from switchboard_shared.cloudevents import decode
from switchboard_shared.events import CallRecorded
from switchboard_shared.settings import CommonSettings
from switchboard_shared.topics import CALLS_CEL, CALLS_RECORDED

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.xdist_group("cel")]


def failures() -> float:
    return METRICS.publish_failures.labels(CALLS_CEL.name)._value.get()  # type: ignore[no-any-return]


async def test_ami_events_wait_out_a_frozen_broker(tmp_path: Path) -> None:
    broker = start_broker(tmp_path / "broker.log")
    server = FakeAmi(username="switchboard", secret="s3cret-" + secrets.token_hex(8))
    await server.start()
    try:
        bootstrap = broker.bootstrap
        await create_topics(CommonSettings(kafka_bootstrap=bootstrap, topic_partitions=3))
        url = f"tcp://{server.username}:{server.secret}@127.0.0.1:{server.port}"
        settings = settings_for(bootstrap, asterisk_ami_url=url)
        rules = asterisk.rules_from(settings.options_for("asterisk"))
        wanted = {}
        events = []
        for name in ("ring_group", "attended_transfer"):
            pbx = Pbx(epoch=random.randrange(10**9, 2 * 10**9), tag=secrets.token_hex(3))
            trace = [ami_time(e) for e in SCENARIOS[name](pbx)[0].events]
            parsed = cel.parse_batch(trace, ZoneInfo("UTC"), "x")
            (call,) = calls_from(parsed, rules, settings.phone_policy, "US")
            wanted[call.call_id] = call
            events.extend(trace)
        app = create_app(settings)
        async with app.router.lifespan_context(app):
            assert await app.state.bus.wait_connected(20)
            await eventually(lambda: _true(server.logins), timeout=30, what="AMI login")
            before = failures()
            broker.freeze()
            try:
                server.events.extend(events)
                await eventually(
                    lambda: _true(failures() > before),
                    timeout=60,
                    what="a publish refused while the broker is frozen",
                )
            finally:
                broker.thaw()

            async def built() -> list[CallRecorded] | None:
                calls = []
                for record in await read_to_end(bootstrap, CALLS_RECORDED.name):
                    _, data = decode(record.headers, record.value)
                    assert isinstance(data, CallRecorded)
                    calls.append(data)
                return calls if {c.call_id for c in calls} == set(wanted) else None

            calls = await eventually(built, timeout=90, what="both calls after the thaw")
        assert server.sent == len(events)
        assert sorted(c.call_id for c in calls) == sorted(wanted)  # once each
        for call in calls:
            assert call.participants == wanted[call.call_id].participants
            assert call.raw["complete"] is True
    finally:
        await server.stop()
        broker.stop()


async def _true(value: object) -> bool:
    return bool(value)
