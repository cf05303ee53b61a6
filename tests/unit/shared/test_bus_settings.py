"""What the Bus is configured with: deadlines, the probe, and whose lag it reports."""

from __future__ import annotations

import pydantic
import pytest

from switchboard_shared.kafka import produced_by
from switchboard_shared.settings import CommonSettings


def test_intakes_fail_fast_while_background_publishers_may_wait() -> None:
    settings = CommonSettings()
    assert settings.intake_publish_timeout_s <= 2.0
    assert settings.publish_timeout_s == 10.0
    # the worst case after a stall begins: a wait, then two unanswered probes in a row
    assert settings.broker_probe_interval_s + 2 * settings.broker_probe_timeout_s < 5.0


def test_downstream_groups_default_to_the_shipped_consumers() -> None:
    assert CommonSettings().downstream_groups == {
        "calls.recorded.v1": ["classifier"],
        "mail.received.v1": ["classifier-mail"],
        "interactions.classified.v1": ["crm-store"],
        "interactions.classified.history.v1": ["crm-store-history"],
    }


def test_downstream_groups_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "SWITCHBOARD_DOWNSTREAM_GROUPS",
        "calls.recorded.v1=classifier, crm.activities.v1=billing,crm.activities.v1=reports",
    )
    assert CommonSettings().downstream_groups == {
        "calls.recorded.v1": ["classifier"],
        "crm.activities.v1": ["billing", "reports"],
    }


def test_a_malformed_downstream_group_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SWITCHBOARD_DOWNSTREAM_GROUPS", "calls.recorded.v1")
    with pytest.raises(pydantic.ValidationError, match="SWITCHBOARD_DOWNSTREAM_GROUPS"):
        CommonSettings()


def test_each_service_reports_the_lag_on_the_topics_it_produces() -> None:
    assert [t.name for t in produced_by("ingest-calls")] == [
        "calls.recorded.v1",
        "calls.progress.v1",
        "calls.cel.v1",
        "ingest.rejected.v1",
    ]
    assert [t.name for t in produced_by("ingest-mail")] == [
        "mail.received.v1",
        "ingest.rejected.v1",
    ]
    assert [t.name for t in produced_by("classifier")] == [
        "interactions.classified.v1",
        "classifier.knowledge.v1",
        "interactions.classified.history.v1",
    ]
    assert [t.name for t in produced_by("switchboard import")] == [
        "calls.recorded.history.v1",
        "mail.received.history.v1",
    ]
    assert "crm.activities.v1" in [t.name for t in produced_by("crm-store")]
    assert produced_by("ingest-calls-replay") == []
