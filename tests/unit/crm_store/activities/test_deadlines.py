"""When activities fall due: a callback 4 h after the missed call, identify_contact 72 h, reply
and log_outcome 24 h after the interaction; each `CRM_STORE_*_DUE_H` setting moves its kind's
deadline, and only that one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from crm_store.config import DuePolicy, Settings
from switchboard_shared.events import ActivityKind

T = datetime(2025, 3, 1, 9, 7, 30, tzinfo=UTC)
DEFAULT_HOURS = {
    ActivityKind.CALLBACK: 4,
    ActivityKind.IDENTIFY_CONTACT: 72,
    ActivityKind.REPLY: 24,
    ActivityKind.LOG_OUTCOME: 24,
}
SETTINGS = {
    ActivityKind.CALLBACK: "CRM_STORE_CALLBACK_DUE_H",
    ActivityKind.IDENTIFY_CONTACT: "CRM_STORE_IDENTIFY_CONTACT_DUE_H",
    ActivityKind.REPLY: "CRM_STORE_REPLY_DUE_H",
    ActivityKind.LOG_OUTCOME: "CRM_STORE_LOG_OUTCOME_DUE_H",
}


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in SETTINGS.values():
        monkeypatch.delenv(name, raising=False)


def test_every_kind_that_asks_for_work_has_a_deadline() -> None:
    assert set(DEFAULT_HOURS) == set(ActivityKind)


@pytest.mark.parametrize(("kind", "hours"), DEFAULT_HOURS.items())
def test_the_default_deadline_counts_from_the_interaction(kind: ActivityKind, hours: int) -> None:
    assert DuePolicy().due_at(kind, T) == T + timedelta(hours=hours)
    assert Settings().store_policy().due.due_at(kind, T) == T + timedelta(hours=hours)
    later = T + timedelta(days=3, minutes=11)
    assert DuePolicy().due_at(kind, later) == later + timedelta(hours=hours)


@pytest.mark.parametrize("changed", list(SETTINGS))
def test_a_setting_moves_its_own_kind_only(
    monkeypatch: pytest.MonkeyPatch, changed: ActivityKind
) -> None:
    monkeypatch.setenv(SETTINGS[changed], "1.5")
    due = Settings().store_policy().due
    for kind, hours in DEFAULT_HOURS.items():
        expected = timedelta(hours=1.5) if kind is changed else timedelta(hours=hours)
        assert due.due_at(kind, T) == T + expected, kind


@pytest.mark.parametrize("value", ["0", "-4"])
def test_a_deadline_must_lie_after_the_interaction(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv(SETTINGS[ActivityKind.CALLBACK], value)
    with pytest.raises(ValueError, match="callback_due_h"):
        Settings()
