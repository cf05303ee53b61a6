"""Presets as the administrator keeps them, over the API on real databases: a new one goes last,
labels per locale (unknown locales refused), reordered, retired (never deleted: listed with
`include_inactive`), every change audited with before and after."""

from __future__ import annotations

import httpx
import pytest

from crm_store.activities import presets

pytestmark = pytest.mark.integration


async def test_presets_are_added_relabelled_reordered_and_retired(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    body = {
        "code": "sent_offer",
        "label": "Sent an offer",
        "kinds": ["callback", "reply"],
        "closes": True,
        "labels": {"pl": "Wysłano ofertę", "ta": "சலுகை அனுப்பப்பட்டது"},
    }
    created = await client.post("/api/v1/presets", json=body, headers=admin)
    assert created.status_code == 201, created.text
    listed = (await client.get("/api/v1/presets", headers=admin)).json()
    assert listed[-1]["code"] == "sent_offer"
    assert listed[-1]["labels"]["pl"] == "Wysłano ofertę"
    bad = await client.patch(
        "/api/v1/presets/sent_offer", json={"labels": {"de": "Angebot"}}, headers=admin
    )
    assert bad.status_code == 422

    order = await client.put(
        "/api/v1/presets/order", json={"codes": ["sent_offer", "completed"]}, headers=admin
    )
    assert order.status_code == 200, order.text
    listed = (await client.get("/api/v1/presets", headers=admin)).json()
    assert [p["code"] for p in listed[:2]] == ["sent_offer", "completed"]

    retired = await client.patch(
        "/api/v1/presets/sent_offer", json={"active": False, "label": "Offer sent"}, headers=admin
    )
    assert retired.status_code == 200
    active = (await client.get("/api/v1/presets", headers=admin)).json()
    assert "sent_offer" not in [p["code"] for p in active]
    every = (
        await client.get("/api/v1/presets", params={"include_inactive": "true"}, headers=admin)
    ).json()
    [kept] = [p for p in every if p["code"] == "sent_offer"]
    assert kept["label"] == "Offer sent"
    audit = (
        await client.get(
            "/api/v1/audit", params={"entity": "preset", "entity_id": "sent_offer"}, headers=admin
        )
    ).json()
    assert audit[0]["changes"]["before"] == {"active": True, "label": "Sent an offer"}


def test_the_label_is_the_locale_s_else_the_english_one() -> None:
    labels = {"pl": "Wysłano ofertę"}
    assert presets.label_in(labels, "Sent an offer", "pl-PL") == "Wysłano ofertę"
    assert presets.label_in(labels, "Sent an offer", "ta") == "Sent an offer"
    assert presets.label_in({}, "Sent an offer", None) == "Sent an offer"
