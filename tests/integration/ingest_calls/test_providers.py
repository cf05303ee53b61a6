"""Every provider end to end: a signed webhook in, a CloudEvent on the real broker out."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from ingest_calls.app import create_app
from integration.ingest_calls.webhooks import (
    CASES,
    CUSTOMER,
    CUSTOMER_NATIONAL,
    SECRET_SETTING,
    THREECX_TOKEN,
    Case,
    Hook,
    RecordReader,
    asterisk_csv,
    generic_final,
    new_call_id,
    settings_for,
    sign_generic,
    twilio_json,
)
from support.records import read_to_end
from switchboard_shared.cloudevents import decode
from switchboard_shared.events import IngestRejected
from switchboard_shared.intake import kept_body
from switchboard_shared.topics import CALLS_RECORDED, INGEST_REJECTED

pytestmark = pytest.mark.integration

PROBLEM = "application/problem+json"
PROVIDERS = sorted(CASES)
PROGRESSING = sorted(name for name, case in CASES.items() if case.progress)
PROGRESS_STATES = [(name, state) for name in PROGRESSING for state in CASES[name].progress_states]
TAMPER_PROOF = sorted(name for name, case in CASES.items() if case.signs_body)
# The counterpart's digits appear in every request body; changing one is a tampered call.
ORIGINAL, TAMPERED = CUSTOMER_NATIONAL[1:].encode(), (CUSTOMER_NATIONAL[1:-1] + "6").encode()


async def post(client: httpx.AsyncClient, hook: Hook) -> httpx.Response:
    return await client.post(hook.path, content=hook.body, headers=hook.headers)


def accepted(response: httpx.Response) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["accepted"]
    return items


def outcome(response: httpx.Response) -> str:
    (item,) = accepted(response)
    value: str = item["outcome"]
    return value


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    problem: dict[str, Any] = response.json()
    assert problem["status"] == status
    assert problem["title"]
    return problem


def progress_of(case: Case) -> Any:
    assert case.progress is not None
    return case.progress


# --- final states ----------------------------------------------------------------------------


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_a_final_state_is_recorded_as_a_cloudevent(
    provider: str, client: httpx.AsyncClient, reader: RecordReader
) -> None:
    case = CASES[provider]
    provider_call_id = new_call_id(provider)
    call_id = case.call_id(provider_call_id)

    response = await post(client, case.final(provider_call_id, "answered"))

    (item,) = accepted(response)
    assert item["call_id"] == call_id
    assert item["outcome"] == "published"
    (record,) = await reader.recorded(call_id)
    assert record.key == CUSTOMER
    assert record.headers["ce_type"] == "switchboard.call.recorded.v1"
    assert record.headers["ce_specversion"] == "1.0"
    assert provider in record.headers["ce_source"]
    assert record.headers["ce_id"] == item["event_id"]
    assert record.headers["ce_subject"] == call_id
    assert record.headers["content-type"] == "application/json"
    assert record.value["provider"] == provider
    assert record.value["status"] == "answered"
    assert record.value["direction"] == case.direction
    assert record.value["counterpart"] == CUSTOMER


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_the_same_request_twice_is_published_once(
    provider: str, client: httpx.AsyncClient, reader: RecordReader
) -> None:
    case = CASES[provider]
    provider_call_id = new_call_id(provider)
    hook = case.final(provider_call_id, case.other_status)

    first = await post(client, hook)
    second = await post(client, hook)

    assert outcome(first) == "published"
    assert outcome(second) == "duplicate"
    assert accepted(first)[0]["event_id"] == accepted(second)[0]["event_id"]
    records = await reader.recorded(case.call_id(provider_call_id))
    assert len(records) == 1
    assert records[0].value["status"] == case.other_status


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_a_later_different_status_of_the_same_call_is_published(
    provider: str, client: httpx.AsyncClient, reader: RecordReader
) -> None:
    case = CASES[provider]
    provider_call_id = new_call_id(provider)

    first = await post(client, case.final(provider_call_id, case.other_status))
    later = await post(client, case.final(provider_call_id, "answered"))

    assert outcome(first) == "published"
    assert outcome(later) == "published"
    records = await reader.recorded(case.call_id(provider_call_id), at_least=2)
    assert [r.value["status"] for r in records] == [case.other_status, "answered"]
    assert len({r.headers["ce_id"] for r in records}) == 2


# --- progress states -------------------------------------------------------------------------


@pytest.mark.parametrize(("provider", "state"), PROGRESS_STATES)
async def test_a_progress_state_lands_on_calls_progress(
    provider: str, state: str, client: httpx.AsyncClient, reader: RecordReader
) -> None:
    case = CASES[provider]
    provider_call_id = new_call_id(provider)
    call_id = case.call_id(provider_call_id)

    response = await post(client, progress_of(case)(provider_call_id, state))

    (item,) = accepted(response)
    assert item["outcome"] == "published"
    (record,) = await reader.progress(call_id)
    assert record.key == CUSTOMER
    assert record.headers["ce_type"] == "switchboard.call.progress.v1"
    assert provider in record.headers["ce_source"]
    assert record.headers["ce_id"] == item["event_id"]
    assert record.value["state"] == state
    assert record.value["direction"] == case.direction
    assert record.value["counterpart"] == CUSTOMER
    assert await reader.recorded(call_id, at_least=0) == []


@pytest.mark.parametrize("provider", PROGRESSING)
async def test_a_call_from_first_states_to_hangup_then_a_late_state(
    provider: str, client: httpx.AsyncClient, reader: RecordReader
) -> None:
    case = CASES[provider]
    progress = progress_of(case)
    provider_call_id = new_call_id(provider)
    call_id = case.call_id(provider_call_id)
    states = case.progress_states

    before, after = states[:-1], states[-1]

    for state in before:
        assert outcome(await post(client, progress(provider_call_id, state))) == "published"
    assert outcome(await post(client, progress(provider_call_id, states[0]))) == "duplicate"
    assert outcome(await post(client, case.final(provider_call_id, "answered"))) == "published"
    assert outcome(await post(client, progress(provider_call_id, after))) == "late"
    # A state published before the hangup, sent again: a plain retry.
    assert outcome(await post(client, progress(provider_call_id, states[0]))) == "duplicate"

    published = await reader.progress(call_id, at_least=len(before))
    assert [r.value["state"] for r in published] == list(before)
    assert len(await reader.recorded(call_id)) == 1


@pytest.mark.parametrize("provider", PROGRESSING)
async def test_a_progress_state_first_seen_after_the_hangup_is_late(
    provider: str, client: httpx.AsyncClient, reader: RecordReader
) -> None:
    case = CASES[provider]
    provider_call_id = new_call_id(provider)
    call_id = case.call_id(provider_call_id)

    assert outcome(await post(client, case.final(provider_call_id, "answered"))) == "published"
    late = await post(client, progress_of(case)(provider_call_id, case.progress_states[-1]))

    (item,) = accepted(late)
    assert item["outcome"] == "late"
    assert item["call_id"] == call_id
    assert await reader.progress(call_id, at_least=0) == []


# --- authentication --------------------------------------------------------------------------


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_a_wrong_key_is_401_and_nothing_is_published(
    provider: str, client: httpx.AsyncClient, reader: RecordReader
) -> None:
    case = CASES[provider]
    provider_call_id = new_call_id(provider)

    response = await post(client, case.wrong_key(provider_call_id))

    assert_problem(response, 401)
    assert await reader.recorded(case.call_id(provider_call_id), at_least=0) == []


@pytest.mark.parametrize("provider", TAMPER_PROOF)
async def test_a_body_changed_after_signing_is_401(
    provider: str, client: httpx.AsyncClient, reader: RecordReader
) -> None:
    case = CASES[provider]
    provider_call_id = new_call_id(provider)
    hook = case.final(provider_call_id, "answered")

    response = await post(client, hook.replace(ORIGINAL, TAMPERED))

    assert_problem(response, 401)
    assert await reader.recorded(case.call_id(provider_call_id), at_least=0) == []
    assert outcome(await post(client, hook)) == "published"  # the original still is fine


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_no_credentials_at_all_is_401(provider: str, client: httpx.AsyncClient) -> None:
    case = CASES[provider]
    hook = case.final(new_call_id(provider), "answered")
    content_type = hook.headers["Content-Type"]
    unsigned = {"Content-Type": content_type}
    if provider == "aircall":  # the token travels in the body
        hook = hook.replace(b'"token":', b'"not-the-token":')
    response = await client.post(hook.path, content=hook.body, headers=unsigned)
    assert_problem(response, 401)


# --- content types, sizes, routing -----------------------------------------------------------


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("content_type", ["text/plain", "application/xml", "multipart/form-data"])
async def test_a_wrong_content_type_is_415(
    provider: str, content_type: str, client: httpx.AsyncClient
) -> None:
    hook = CASES[provider].final(new_call_id(provider), "answered")
    headers = {**hook.headers, "Content-Type": content_type}
    response = await client.post(hook.path, content=hook.body, headers=headers)
    assert_problem(response, 415)


async def test_a_content_type_with_parameters_and_capitals_is_accepted(
    client: httpx.AsyncClient,
) -> None:
    hook = generic_final(new_call_id("generic"), "answered")
    headers = {**hook.headers, "Content-Type": "Application/JSON; charset=utf-8"}
    response = await client.post(hook.path, content=hook.body, headers=headers)
    assert outcome(response) == "published"


async def test_a_body_over_the_limit_is_413(client: httpx.AsyncClient, ingest_app: FastAPI) -> None:
    limit: int = ingest_app.state.settings.max_body_bytes
    body = b"[" + b" " * limit + b"]"
    response = await client.post("/webhooks/generic", content=body, headers=sign_generic(body))
    assert_problem(response, 413)


async def test_a_signed_but_malformed_call_is_422_naming_the_field(
    client: httpx.AsyncClient, kafka_bootstrap: str
) -> None:
    """Kept on ingest.rejected.v1 as it came, for `python -m ingest_calls.replay`; replayed
    with today's adapter it is still invalid, said so, and publishes nothing."""
    since = datetime.now(UTC)
    provider_call_id = new_call_id("generic")
    hook = generic_final(provider_call_id, "answered")
    body = hook.body.replace(b'"started_at"', b'"begun_at"')
    response = await client.post("/webhooks/generic", content=body, headers=sign_generic(body))
    problem = assert_problem(response, 422)
    assert problem["field"] == "started_at"
    rejected_id = problem["rejected_event_id"]

    # answered after the broker acknowledged: the kept record is on the topic now, once
    kept = [
        event
        for record in await read_to_end(kafka_bootstrap, INGEST_REJECTED.name)
        if dict(record.headers)["ce_id"].decode() == rejected_id
        for _, event in [decode(record.headers, record.value)]
    ]
    [rejected] = kept
    assert isinstance(rejected, IngestRejected)
    assert rejected.source == "ingest-calls/generic"
    assert rejected.reason == "invalid_payload"
    assert "started_at" in rejected.detail
    assert rejected.content_type == "application/json"
    assert not rejected.truncated
    assert kept_body(rejected) == body  # byte for byte what the provider sent
    assert rejected.received_at >= since

    # the operator's replay, as documented: the record is read and parsed again
    recorded_before = await read_to_end(kafka_bootstrap, CALLS_RECORDED.name)
    environment = {
        name: value for name, value in os.environ.items() if not name.startswith("INGEST_CALLS_")
    }
    environment["SWITCHBOARD_KAFKA_BOOTSTRAP"] = kafka_bootstrap
    replay = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "ingest_calls.replay",
        "--provider",
        "generic",
        "--since",
        since.isoformat(),
        env=environment,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(replay.communicate(), timeout=60)
    lines = out.decode().splitlines()
    assert replay.returncode == 1, (out + err).decode()  # something is still invalid
    assert lines[:-1] == [f"still invalid: generic: {rejected.detail}"], lines
    assert ": 0 replayed (0 events), 1 still invalid," in lines[-1], lines
    recorded_after = await read_to_end(kafka_bootstrap, CALLS_RECORDED.name)
    assert len(recorded_after) == len(recorded_before)
    call_id = f"generic:{provider_call_id}"
    assert not [r for r in recorded_after if json.loads(r.value)["call_id"] == call_id]


async def test_an_unknown_provider_is_404(client: httpx.AsyncClient) -> None:
    hook = generic_final(new_call_id("generic"), "answered")
    response = await client.post("/webhooks/ringcentral", content=hook.body, headers=hook.headers)
    assert_problem(response, 404)
    assert_problem(await client.get("/webhooks/ringcentral?zd_echo=abc"), 404)


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_a_provider_without_a_secret_is_404(provider: str, kafka_bootstrap: str) -> None:
    disabled: FastAPI = create_app(
        settings_for(kafka_bootstrap, **{SECRET_SETTING[provider]: None})
    )
    hook = CASES[provider].final(new_call_id(provider), "answered")
    transport = httpx.ASGITransport(app=disabled)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        response = await post(client, hook)
        assert_problem(response, 404)
        assert provider in response.json()["detail"]
        assert_problem(await client.get(f"/webhooks/{provider}?zd_echo=abc"), 404)
        other = next(name for name in PROVIDERS if name != provider)
        still = CASES[other].final(new_call_id(other), "answered")
        assert (await post(client, still)).status_code != 404


# --- more bodies a provider sends ------------------------------------------------------------


async def test_twilio_json_body_signed_through_the_url(
    client: httpx.AsyncClient, reader: RecordReader
) -> None:
    call_sid = new_call_id("twilio")
    hook = twilio_json(call_sid, "no-answer")
    assert outcome(await post(client, hook)) == "published"
    (record,) = await reader.recorded(f"twilio:{call_sid}")
    assert record.value["status"] == "no_answer"
    assert record.key == CUSTOMER

    tampered = hook.replace(b"no-answer", b"completed")
    assert_problem(await post(client, tampered), 401)


async def test_asterisk_master_csv_line(client: httpx.AsyncClient, reader: RecordReader) -> None:
    unique_id = new_call_id("asterisk")
    hook = asterisk_csv(unique_id)
    assert outcome(await post(client, hook)) == "published"
    assert outcome(await post(client, hook)) == "duplicate"
    (record,) = await reader.recorded(f"asterisk:{unique_id}")
    assert record.value["direction"] == "inbound"
    assert record.value["status"] == "answered"
    assert record.value["agent"] == "101"
    assert record.key == CUSTOMER


async def test_generic_list_of_calls_publishes_each(
    client: httpx.AsyncClient, reader: RecordReader
) -> None:
    ids = [new_call_id("generic") for _ in range(3)]
    calls = b",".join(generic_final(i, "no_answer").body for i in ids)
    body = b"[" + calls + b"]"
    response = await client.post("/webhooks/generic", content=body, headers=sign_generic(body))
    items = accepted(response)
    assert [i["call_id"] for i in items] == [f"generic:{i}" for i in ids]
    assert {i["outcome"] for i in items} == {"published"}
    for call_id in ids:
        assert len(await reader.recorded(f"generic:{call_id}")) == 1


# --- GET: Zadarma's URL check, 3CX's contact lookup ------------------------------------------


async def test_zadarma_url_check_echoes_the_value(client: httpx.AsyncClient) -> None:
    response = await client.get("/webhooks/zadarma", params={"zd_echo": "abc"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert response.text == "abc"


async def test_zadarma_url_check_does_not_reflect_markup(client: httpx.AsyncClient) -> None:
    response = await client.get("/webhooks/zadarma", params={"zd_echo": "<b>x</b>"})
    assert response.status_code == 405
    assert "<b>" not in response.text


async def test_threecx_contact_lookup(client: httpx.AsyncClient) -> None:
    auth = {"Authorization": f"Bearer {THREECX_TOKEN}"}
    response = await client.get("/webhooks/threecx", params={"number": CUSTOMER}, headers=auth)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"contact": {"id": f"tel:{CUSTOMER}", "phone": CUSTOMER}}

    # 3CX puts "+1646..." in the URL unencoded; the "+" arrives as a space.
    raw = await client.get(f"/webhooks/threecx?number=+{CUSTOMER[1:]}", headers=auth)
    assert raw.json() == {"contact": {"id": f"tel:{CUSTOMER}", "phone": CUSTOMER}}
    empty = await client.get("/webhooks/threecx", headers=auth)
    assert empty.json() == {"contact": None}


async def test_threecx_contact_lookup_needs_the_token(client: httpx.AsyncClient) -> None:
    response = await client.get("/webhooks/threecx", params={"number": CUSTOMER})
    assert_problem(response, 401)
    wrong = {"Authorization": "Bearer another-threecx-token-0123"}
    assert_problem(await client.get("/webhooks/threecx?number=1", headers=wrong), 401)


async def test_a_provider_that_only_posts_answers_get_with_405(client: httpx.AsyncClient) -> None:
    response = await client.get("/webhooks/twilio")
    assert_problem(response, 405)
    assert response.headers["allow"] == "POST"
