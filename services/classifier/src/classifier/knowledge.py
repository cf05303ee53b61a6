"""What the classifier knows beyond the event: the CRM's contact points and managers' reports.

Pure and in memory; `repository.py` keeps it on disk and `feed.py` fills it from
`crm.contact-points.v1` (compacted: the latest owner of each number or address) and
`crm.feedback.v1` (a manager's preset on an interaction).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from classifier.rules import RuleSet, Standing
from switchboard_shared.events import ContactPoint, Feedback, Tag

WRONG_NUMBER = Tag.WRONG_NUMBER.value
SPAM = Tag.SPAM.value
LABELS = (WRONG_NUMBER, SPAM)


@dataclass(frozen=True)
class Report:
    """One manager's word on a number: it is a wrong number / spam, or the tag was wrong."""

    id: str  # feedback ce_id + label: a redelivered feedback adds nothing
    point: str
    label: str
    manager: str
    at: datetime
    overturn: bool


def reports_from_feedback(
    feedback_id: str, point: str, feedback: Feedback, rules: RuleSet
) -> list[Report]:
    manager = feedback.manager_id or f"feedback:{feedback_id}"
    tags = {t.value for t in feedback.classifier_tags}
    out: list[Report] = []
    for label, presets in ((WRONG_NUMBER, rules.wrong_number_presets), (SPAM, rules.spam_presets)):
        if feedback.preset in presets:
            out.append(Report(f"{feedback_id}:{label}", point, label, manager, feedback.at, False))
        elif feedback.overturns_classifier and label in tags:
            out.append(Report(f"{feedback_id}:{label}", point, label, manager, feedback.at, True))
    return out


def retracted_report_ids(feedback: Feedback) -> list[str]:
    """The reports of the feedback this one withdraws (a manager undid that preset)."""
    if not feedback.retracts:
        return []
    return [f"{feedback.retracts}:{label}" for label in LABELS]


def is_removal(point: ContactPoint | None) -> bool:
    return point is None or (point.contact_id is None and point.company_id is None)


class Knowledge:
    """Implements `classifier.rules.KnowledgeView`."""

    def __init__(self) -> None:
        self._points: set[str] = set()
        self._reports: dict[str, list[Report]] = defaultdict(list)
        self._report_ids: set[str] = set()

    @property
    def points(self) -> int:
        return len(self._points)

    @property
    def reports(self) -> int:
        return len(self._report_ids)

    def is_known(self, point: str) -> bool:
        return point.lower() in self._points

    def put_point(self, point: str, known: bool) -> None:
        key = point.lower()
        if known:
            self._points.add(key)
        else:
            self._points.discard(key)

    def add_report(self, report: Report) -> bool:
        """False when this report was already known (a redelivery)."""
        if report.id in self._report_ids:
            return False
        self._report_ids.add(report.id)
        self._reports[report.point.lower()].append(report)
        return True

    def remove_report(self, point: str, report_id: str) -> bool:
        """Forget a withdrawn report; False when it was not known."""
        if report_id not in self._report_ids:
            return False
        self._report_ids.discard(report_id)
        key = point.lower()
        self._reports[key] = [r for r in self._reports.get(key, []) if r.id != report_id]
        return True

    def standing(self, point: str, label: str, now: datetime, window_days: int) -> Standing:
        reports = self._reports.get(point.lower())
        if not reports:
            return Standing()
        since = now - timedelta(days=window_days)
        managers: set[str] = set()
        overturns = 0
        last: datetime | None = None
        for report in reports:
            if report.label != label or report.at < since or report.at > now:
                continue
            if report.overturn:
                overturns += 1
            else:
                managers.add(report.manager)
                last = report.at if last is None or report.at > last else last
        return Standing(reports=len(managers), overturns=overturns, last=last)
