"""The administrator's extra fields of contacts and companies, over the API on real databases:
defined with a type, filled in and checked as the built-in fields are (type, choices, length),
changed key by key, and kept on the rows when the field is retired (no new value then)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.integration


async def define(client: httpx.AsyncClient, admin: dict[str, str], **body: Any) -> Any:
    response = await client.post("/api/v1/contact-fields", json=body, headers=admin)
    assert response.status_code == 201, response.text
    return response.json()


async def test_extra_fields_are_checked_changed_and_kept_when_retired(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    birthday = await define(
        client, admin, entity="contact", key="birthday", label="Birthday", type="date"
    )
    await define(
        client,
        admin,
        entity="contact",
        key="interests",
        label="Interests",
        type="text",
        max_length=20,
    )
    await define(
        client,
        admin,
        entity="contact",
        key="style",
        label="Decision style",
        type="choice",
        choices=["fast", "careful"],
    )
    await define(client, admin, entity="company", key="staff", label="Staff", type="number")
    twice = await client.post(
        "/api/v1/contact-fields",
        json={"entity": "contact", "key": "birthday", "label": "Again", "type": "text"},
        headers=admin,
    )
    assert twice.status_code == 422
    no_choices = await client.post(
        "/api/v1/contact-fields",
        json={"entity": "contact", "key": "mood", "label": "Mood", "type": "choice"},
        headers=admin,
    )
    assert no_choices.status_code == 422

    for wrong, field in [
        ({"birthday": "31/12/1980"}, "fields.birthday"),
        ({"interests": "x" * 21}, "fields.interests"),
        ({"style": "slow"}, "fields.style"),
        ({"unknown": "1"}, "fields.unknown"),
    ]:
        refused = await client.post(
            "/api/v1/contacts", json={"first_name": "Kim", "fields": wrong}, headers=admin
        )
        assert refused.status_code == 422, wrong
        assert refused.json()["errors"][0]["field"] == field

    created = await client.post(
        "/api/v1/contacts",
        json={"first_name": "Kim", "fields": {"birthday": "1980-12-31", "style": "careful"}},
        headers=admin,
    )
    assert created.status_code == 201, created.text
    kim = created.json()
    assert kim["fields"] == {"birthday": "1980-12-31", "style": "careful"}
    patched = await client.patch(
        f"/api/v1/contacts/{kim['id']}",
        json={"fields": {"interests": "sailing", "style": None}},
        headers=admin,
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["fields"] == {"birthday": "1980-12-31", "interests": "sailing"}

    company = await client.post(
        "/api/v1/companies", json={"name": "Acme", "fields": {"staff": "many"}}, headers=admin
    )
    assert company.status_code == 422
    company = await client.post(
        "/api/v1/companies", json={"name": "Acme", "fields": {"staff": 40}}, headers=admin
    )
    assert company.status_code == 201, company.text
    assert company.json()["fields"] == {"staff": 40}

    retired = await client.patch(
        f"/api/v1/contact-fields/{birthday['id']}", json={"active": False}, headers=admin
    )
    assert retired.status_code == 200
    kept = (await client.get(f"/api/v1/contacts/{kim['id']}", headers=admin)).json()
    assert kept["fields"]["birthday"] == "1980-12-31"
    refused = await client.patch(
        f"/api/v1/contacts/{kim['id']}",
        json={"fields": {"birthday": "1981-01-01"}},
        headers=admin,
    )
    assert refused.status_code == 422
    listed = (await client.get("/api/v1/contact-fields", headers=admin)).json()
    assert "birthday" not in [f["key"] for f in listed]
    everything = (
        await client.get(
            "/api/v1/contact-fields", params={"include_retired": "true"}, headers=admin
        )
    ).json()
    assert "birthday" in [f["key"] for f in everything]
