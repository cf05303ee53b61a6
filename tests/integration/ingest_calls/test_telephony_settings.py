"""ingest-calls follows the administrator's telephony settings (`crm.settings.v1`) without a
restart, against a real broker: after the default region changes to Poland, the next webhook's
national number is read as a Polish one; a provider option that is a secret is never taken from
the settings."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from aiokafka import AIOKafkaProducer
from fastapi import FastAPI

from ingest_calls.app import create_app
from ingest_calls.config import Settings
from ingest_calls.live import with_telephony
from integration.ingest_calls.webhooks import GENERIC_SECRET, RecordReader, settings_for
from support.conditions import until
from support.generic_webhook import missed_call, signature_headers
from support.private_broker import private_broker
from switchboard_shared.cloudevents import encode
from switchboard_shared.events import SettingsChanged
from switchboard_shared.settings.groups import TelephonySettings
from switchboard_shared.topics import CRM_SETTINGS

pytestmark = pytest.mark.integration
POLISH_NATIONAL = "22 123 45 67"


@pytest_asyncio.fixture
async def bootstrap(tmp_path: Path) -> AsyncIterator[str]:
    # A broker of its own: the other tests' services must not follow these settings.
    async with private_broker(tmp_path) as address:
        yield address


async def publish_telephony(bootstrap: str, version: int, values: dict[str, object]) -> None:
    event = SettingsChanged(
        group="telephony",
        values=values,
        version=version,
        changed_by="manager:m-1",
        changed_at=datetime.now(UTC),
    )
    record = encode(CRM_SETTINGS, event, id=f"telephony-{version}", source="test", key="telephony")
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(
            record.topic,
            record.value,
            key=record.key,
            headers=[(k, v.encode()) for k, v in record.headers.items()],
        )
    finally:
        await producer.stop()


async def post(app: FastAPI, call_id: str) -> None:
    body = missed_call(call_id, caller=POLISH_NATIONAL)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        answer = await client.post(
            "/webhooks/generic", content=body, headers=signature_headers(body, GENERIC_SECRET)
        )
    assert answer.status_code < 300, answer.text


async def test_a_new_default_region_applies_to_the_next_webhook(bootstrap: str) -> None:
    app = create_app(settings_for(bootstrap))
    reader = RecordReader(bootstrap)
    async with app.router.lifespan_context(app):
        assert await app.state.bus.wait_connected(20)
        await post(app, "tel-before")
        [before] = await reader.recorded("generic:tel-before")
        assert before.value["from"]["e164"] != "+48221234567"
        await publish_telephony(
            bootstrap,
            1,
            {
                "default_region": "PL",
                "extension_ranges": ["100-199"],
                "providers": {"generic": {"hmac_secret": "taken-from-settings"}},
            },
        )
        await until(
            lambda: app.state.settings.common.default_region == "PL", "the region change", 30
        )
        assert app.state.settings.generic_hmac_secret == GENERIC_SECRET
        await post(app, "tel-after")
        [after] = await reader.recorded("generic:tel-after")
    assert after.value["from"]["e164"] == "+48221234567"


def test_settings_add_to_the_environment_and_never_set_a_secret() -> None:
    base = Settings(generic_hmac_secret="s" * 32, own_numbers="+14155550100")
    telephony = TelephonySettings.model_validate(
        {
            "default_region": "DE",
            "own_numbers": ["+49 30 1234567"],
            "providers": {
                "asterisk": {"timezone": "Europe/Berlin"},
                "twilio": {"auth_token": "x" * 32},
            },
        }
    )
    combined = with_telephony(base, telephony)
    assert combined.common.default_region == "DE"
    assert combined.phone_policy.own_numbers == {"+14155550100", "+49301234567"}
    assert combined.asterisk_timezone == "Europe/Berlin"
    assert combined.twilio_auth_token is None
    with pytest.raises(ValueError, match="unknown time zone"):
        with_telephony(
            base,
            telephony.model_copy(update={"providers": {"asterisk": {"timezone": "Mars/Base"}}}),
        )
