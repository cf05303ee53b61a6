"""Managers' feedback becomes reputation: who reported a number, when, and who overturned it."""

from __future__ import annotations

from datetime import timedelta

from classifier.knowledge import (
    Knowledge,
    is_removal,
    reports_from_feedback,
    retracted_report_ids,
)
from classifier.rules import RuleSet
from switchboard_shared.events import ContactPoint, Disposition, Feedback, Tag

from .conftest import STARTED, STRANGER_E164

AT = STARTED - timedelta(days=1)


def feedback(preset: str, *, overturns: bool = False, tags: list[Tag] | None = None) -> Feedback:
    return Feedback(
        interaction_id="i-1",
        activity_id="a-1",
        manager_id="m-7",
        preset=preset,
        classifier_disposition=Disposition.NEEDS_STATUS,
        classifier_tags=tags or [],
        overturns_classifier=overturns,
        at=AT,
    )


def test_a_wrong_number_preset_is_a_report(rules: RuleSet) -> None:
    [report] = reports_from_feedback("fb1", STRANGER_E164, feedback("wrong_number"), rules)
    assert (report.label, report.manager, report.at, report.overturn) == (
        "wrong_number",
        "m-7",
        AT,
        False,
    )
    [spam] = reports_from_feedback("fb2", STRANGER_E164, feedback("spam"), rules)
    assert spam.label == "spam"


def test_overturning_a_wrong_number_tag_is_an_overturn(rules: RuleSet) -> None:
    data = feedback("completed", overturns=True, tags=[Tag.WRONG_NUMBER])
    [report] = reports_from_feedback("fb3", STRANGER_E164, data, rules)
    assert (report.label, report.overturn) == ("wrong_number", True)


def test_other_presets_say_nothing_about_the_number(rules: RuleSet) -> None:
    assert reports_from_feedback("fb4", STRANGER_E164, feedback("completed"), rules) == []
    overturned_missed = feedback("completed", overturns=True, tags=[Tag.MISSED])
    assert reports_from_feedback("fb5", STRANGER_E164, overturned_missed, rules) == []


def test_a_redelivered_report_counts_once(rules: RuleSet) -> None:
    known = Knowledge()
    [report] = reports_from_feedback("fb6", STRANGER_E164, feedback("wrong_number"), rules)
    assert known.add_report(report) is True
    assert known.add_report(report) is False
    assert known.standing(STRANGER_E164, "wrong_number", STARTED, 365).reports == 1


def test_a_report_made_after_the_call_does_not_judge_it(rules: RuleSet) -> None:
    known = Knowledge()
    [report] = reports_from_feedback("fb7", STRANGER_E164, feedback("wrong_number"), rules)
    known.add_report(report)
    assert known.standing(STRANGER_E164, "wrong_number", AT - timedelta(hours=1), 365).net == 0


def test_contact_points_and_tombstones() -> None:
    known = Knowledge()
    known.put_point("Bob@Client.example", True)
    assert known.is_known("bob@client.example")
    known.put_point("bob@client.example", False)
    assert not known.is_known("bob@client.example")
    assert is_removal(None)
    assert is_removal(ContactPoint(point="+14155550123", type="phone"))
    assert not is_removal(ContactPoint(point="+14155550123", type="phone", contact_id="c1"))


def test_an_undone_preset_withdraws_its_report(rules: RuleSet) -> None:
    """A manager's "Spam" clicked by mistake and undone no longer counts against the number."""
    known = Knowledge()
    for n, manager in enumerate(("m-1", "m-2")):
        data = feedback("spam").model_copy(update={"manager_id": manager})
        for report in reports_from_feedback(f"fb-s{n}", STRANGER_E164, data, rules):
            known.add_report(report)
    assert known.standing(STRANGER_E164, "spam", STARTED, 365).reports == 2
    undo = feedback("").model_copy(update={"retracts": "fb-s1"})
    assert reports_from_feedback("fb-u1", STRANGER_E164, undo, rules) == []
    withdrawn = retracted_report_ids(undo)
    assert "fb-s1:spam" in withdrawn
    assert [known.remove_report(STRANGER_E164, r) for r in withdrawn] == [False, True]
    assert known.standing(STRANGER_E164, "spam", STARTED, 365).reports == 1
    assert retracted_report_ids(feedback("spam")) == []
