"""What the classifier knows beyond the event: the CRM's contact points and managers' reports.

Pure and in memory; `feed.py` fills it from `crm.contact-points.v1` (compacted: the latest owner
of each number or address), `crm.feedback.v1` (a manager's preset on an interaction) and
`classifier.knowledge.v1` (compacted: the reputation of each number, kept after its feedback
expired), and writes a point's reputation back there when what it knows differs.

The reputation of a point is two sets that only grow: the reports (by id) and the ids of the
reports withdrawn. Merging two views of it (one from the feedback topic, one from the knowledge
topic, or two replicas' values) is their union, whatever the order: a report withdrawn stays
withdrawn even when its feedback is read again.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from classifier.rules import RuleSet, Standing
from switchboard_shared.events import ContactPoint, Feedback, Reputation, ReputationReport, Tag

NO_STANDING = Standing()
WRONG_NUMBER = Tag.WRONG_NUMBER.value
SPAM = Tag.SPAM.value
LABELS = (WRONG_NUMBER, SPAM)


@dataclass(frozen=True, slots=True)
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
        self._retracted: dict[str, set[str]] = defaultdict(set)  # point -> withdrawn report ids

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
        """False when this report was already known (a redelivery) or withdrawn."""
        key = report.point.lower()
        if report.id in self._report_ids or report.id in self._retracted.get(key, ()):
            return False
        self._report_ids.add(report.id)
        self._reports[key].append(report)
        return True

    def remove_report(self, point: str, report_id: str) -> bool:
        """Withdraw a report (remembered, so that it is not added again); False when it was
        not known."""
        key = point.lower()
        self._retracted[key].add(report_id)
        if report_id not in self._report_ids:
            return False
        self._report_ids.discard(report_id)
        self._reports[key] = [r for r in self._reports.get(key, []) if r.id != report_id]
        return True

    def reputation(self, point: str) -> Reputation:
        """What is known about one point, as `classifier.knowledge.v1` carries it."""
        key = point.lower()
        reports = sorted(self._reports.get(key, ()), key=lambda r: (r.at, r.id))
        counts: dict[str, int] = {}
        for report in reports:
            if not report.overturn:
                counts[report.label] = counts.get(report.label, 0) + 1
        return Reputation(
            point=key,
            reports=[
                ReputationReport(
                    id=r.id, label=r.label, manager=r.manager, at=r.at, overturn=r.overturn
                )
                for r in reports
            ],
            retracted=sorted(self._retracted.get(key, ())),
            counts=counts,
            last_seen=reports[-1].at if reports else None,
        )

    def merge(self, value: Reputation) -> bool:
        """Take in a point's reputation as another reader saw it; True when anything was new."""
        key = value.point.lower()
        changed = False
        for report_id in value.retracted:
            if report_id not in self._retracted.get(key, ()):
                changed = True
            changed = self.remove_report(key, report_id) or changed
        for r in value.reports:
            changed = self.add_report(Report(r.id, key, r.label, r.manager, r.at, r.overturn)) or (
                changed
            )
        return changed

    def signature(self, point: str) -> tuple[frozenset[str], frozenset[str]]:
        """The point's reputation as sets of ids (reports, withdrawn): equal when two views
        agree."""
        key = point.lower()
        return (
            frozenset(r.id for r in self._reports.get(key, ())),
            frozenset(self._retracted.get(key, ())),
        )

    def standing(self, point: str, label: str, now: datetime, window_days: int) -> Standing:
        reports = self._reports.get(point.lower())
        if not reports:
            return NO_STANDING
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
