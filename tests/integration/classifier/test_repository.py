"""The classifier's state file (real SQLite): knowledge and offsets survive a restart, held call
legs survive it too, and a different Kafka cluster means reading the knowledge again."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from classifier.knowledge import Report
from classifier.legs import HeldLeg
from classifier.repository import Changes, Repository
from switchboard_shared.events import CallDirection, CallRecorded, CallStatus
from switchboard_shared.phone import PhonePolicy, normalise_phone

pytestmark = pytest.mark.integration
AT = datetime(2026, 3, 2, 9, tzinfo=UTC)
US = PhonePolicy(default_region="US")


def leg(interaction_id: str, linked_id: str, due_at: float) -> HeldLeg:
    call = CallRecorded(
        call_id=f"asterisk:{interaction_id}",
        provider="asterisk",
        direction=CallDirection.INBOUND,
        status=CallStatus.NO_ANSWER,
        started_at=AT,
        from_=normalise_phone("+14155552671", US),
        to=normalise_phone("101", US),
        counterpart="+14155552671",
        linked_id=linked_id,
    )
    return HeldLeg(interaction_id, linked_id, due_at, call)


def test_knowledge_and_offsets_survive_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "var" / "classifier.db"
    repo = Repository(path)
    assert repo.bind_cluster("broker-a:9092") is False
    report = Report("fb1:wrong_number", "+14155559876", "wrong_number", "m1", AT, False)
    new = repo.apply(
        Changes(
            points={"+14155552671": True, "bob@client.example": True},
            reports=[report],
            feedback_ids=["fb1"],
            offsets={("crm.contact-points.v1", 0): 12, ("crm.feedback.v1", 2): 4},
        )
    )
    assert new == {"fb1"}
    assert repo.apply(Changes(feedback_ids=["fb1"], reports=[report])) == set()  # redelivery
    repo.apply(Changes(points={"bob@client.example": False}))
    repo.close()

    again = Repository(path)
    assert again.bind_cluster("broker-a:9092") is False
    assert again.points() == ["+14155552671"]
    assert again.reports() == [report]
    assert again.offsets() == {("crm.contact-points.v1", 0): 12, ("crm.feedback.v1", 2): 4}

    assert again.bind_cluster("broker-b:9092") is True  # another cluster: read it all again
    assert (again.points(), again.reports(), again.offsets()) == ([], [], {})
    again.close()


def test_a_withdrawn_report_is_gone_after_a_restart(tmp_path: Path) -> None:
    """A click and its undo may come in one batch: the report is added, then withdrawn."""
    path = tmp_path / "classifier.db"
    repo = Repository(path)
    kept = Report("fb1:spam", "+14155559876", "spam", "m1", AT, False)
    undone = Report("fb2:spam", "+14155559876", "spam", "m2", AT, False)
    repo.apply(
        Changes(
            reports=[kept, undone],
            feedback_ids=["fb1", "fb2", "fb3"],
            retracted=[("+14155559876", "fb2:spam"), ("+14155559876", "fb2:wrong_number")],
        )
    )
    repo.close()
    again = Repository(path)
    assert again.reports() == [kept]
    again.close()


def test_held_legs_survive_a_restart_and_release_in_order(tmp_path: Path) -> None:
    path = tmp_path / "classifier.db"
    repo = Repository(path)
    repo.hold(leg("i1", "L1", 100.0))
    repo.hold(leg("i2", "L1", 101.0))
    repo.hold(leg("i3", "L2", 102.0))
    repo.hold(leg("i1", "L1", 500.0))  # a redelivered message holds nothing twice
    repo.close()

    repo = Repository(path)
    assert repo.count() == 3
    assert [held.interaction_id for held in repo.due(101.0)] == ["i1", "i2"]
    assert repo.release_now("L2") == 1
    due = repo.due(50.0)
    assert [held.interaction_id for held in due] == ["i3"]
    assert due[0].call.linked_id == "L2"
    repo.remove("i3")
    assert repo.count() == 2
    repo.close()
