"""How the page words things: kinds, durations, times, numbers, what happened. Pure functions."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote, urlsplit

import phonenumbers

KIND_LABELS = {
    "callback": "Call back",
    "log_outcome": "Pick an outcome",
    "reply": "Reply",
    "identify_contact": "Who is this?",
}
STATE_LABELS = {"open": "Open", "done": "Done", "canceled": "Canceled"}
DISPOSITION_LABELS = {
    "auto_closed": "needs nobody",
    "needs_status": "needs an outcome",
    "callback": "needs a call back",
    "reply_needed": "needs a reply",
    "logged": "our own act, logged",
}
CALL_STATUS_LABELS = {
    "answered": "answered",
    "no_answer": "not answered",
    "busy": "busy",
    "failed": "failed",
    "canceled": "hung up before an answer",
    "voicemail": "voicemail left",
}
NO_FIGURE = "\u2013"  # an en dash: nothing to count yet
METRIC_LABELS = {"interactions": "Interactions handled", "activities_closed": "Activities closed"}


def why_text(kind: str, tags: list[str], counterpart: str | None) -> str:
    """Why a card asks something, in the user's words (the classifier's rule and detail are on
    the timeline)."""
    if kind == "callback":
        if "voicemail" in tags:
            return "They called and left a voicemail."
        return "They called and nobody answered." if counterpart else "A withheld number called."
    if kind == "log_outcome":
        return "You talked: how did it go?"
    if kind == "reply":
        return "They wrote and are waiting for an answer."
    if kind == "identify_contact":
        what = "address" if counterpart and "@" in counterpart else "number"
        return f"No contact has this {what} yet."
    return ""


def kind_label(kind: str) -> str:
    return KIND_LABELS.get(kind, kind.replace("_", " ").capitalize())


def disposition_label(disposition: str) -> str:
    return DISPOSITION_LABELS.get(disposition, disposition.replace("_", " "))


def duration(seconds: float | None) -> str:
    """`42 s`, `3 min 05 s`, `1 h 02 min`."""
    if seconds is None:
        return ""
    total = max(0, round(seconds))
    if total < 60:
        return f"{total} s"
    minutes, secs = divmod(total, 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def ago(now: datetime, then: datetime) -> str:
    """`just now`, `12 min ago`, `3 h ago`, `2 days ago`; the absolute time goes beside it."""
    seconds = (now - then).total_seconds()
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        return f"{int(seconds // 60)} min ago"
    if seconds < 86400:
        return f"{int(seconds // 3600)} h ago"
    days = int(seconds // 86400)
    return "yesterday" if days == 1 else f"{days} days ago"


def stamp(at: datetime) -> str:
    """The absolute time, in UTC (the page's script shows it in the browser's time zone)."""
    return at.strftime("%d %b %Y, %H:%M UTC")


def is_overdue(due_at: datetime | None, now: datetime) -> bool:
    return due_at is not None and due_at < now


def start_of_day(now: datetime) -> datetime:
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


def report_window(now: datetime) -> tuple[datetime, datetime]:
    """Today so far (UTC), never empty."""
    start = start_of_day(now)
    return start, max(now, start + timedelta(seconds=1))


def counterpart_text(value: str | None) -> str:
    """A number as people write it (`+1 415-555-0123`), an address as is, or `withheld`."""
    if not value:
        return "Withheld number"
    if "@" in value:
        return value
    try:
        parsed = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException:
        return value
    return str(phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.INTERNATIONAL))


def counterpart_href(value: str | None) -> str:
    """`tel:` for a number, `mailto:` for an address (one tap calls or writes back), else ""."""
    if not value:
        return ""
    if "@" in value:
        return "mailto:" + quote(value, safe="@.+-_")
    if value.startswith("+") and value[1:].isdigit():
        return "tel:" + value
    return ""


MAX_URL_CHARS = 2048


def recording_url(call: Mapping[str, Any]) -> str:
    """The call's recording, when the provider gave a plain web address (nothing else is
    linked: a `javascript:` or `data:` URL from a payload must never become a link)."""
    url = call.get("recording_url")
    if not isinstance(url, str) or len(url) > MAX_URL_CHARS:
        return ""
    parsed = urlsplit(url.strip())
    if parsed.scheme not in ("https", "http") or not parsed.netloc:
        return ""
    return url.strip()


def counterpart_type(value: str | None) -> str:
    if not value:
        return "none"
    return "email" if "@" in value else "phone"


def _number(data: Mapping[str, Any], name: str) -> float | None:
    value = data.get(name)
    return float(value) if isinstance(value, int | float) else None


def what_happened(kind: str, payload: Mapping[str, Any]) -> dict[str, str]:
    """`title` (what happened, in a few words), `detail` (a mail's subject) and `snippet`."""
    if kind == "call":
        call = payload.get("call") or {}
        direction = str(call.get("direction") or "")
        status = str(call.get("status") or "")
        talk, ring = _number(call, "talk_s"), _number(call, "ring_s")
        if direction == "inbound" and status in ("no_answer", "busy", "canceled", "failed"):
            title = "Missed call"
            if ring:
                title += f", rang {duration(ring)}"
        elif direction == "inbound" and status == "voicemail":
            title = "Missed call, voicemail left"
        else:
            outcome = CALL_STATUS_LABELS.get(status, status)
            title = f"{direction.capitalize() or 'A'} call, {outcome}"
            if status == "answered" and talk is not None:
                title += f", {duration(talk)} of talk"
        return {"title": title, "detail": "", "snippet": "", "recording": recording_url(call)}
    if kind == "mail":
        mail = payload.get("mail") or {}
        direction = str(mail.get("direction") or "")
        title = {"inbound": "E-mail received", "outbound": "E-mail sent"}.get(direction, "E-mail")
        subject = str(mail.get("subject") or "").strip() or "(no subject)"
        snippet = str(mail.get("snippet") or "").strip()
        if isinstance(bounce := mail.get("bounce"), Mapping):
            return bounce_happened(bounce, subject)
        return {"title": title, "detail": subject, "snippet": snippet}
    return {"title": kind.capitalize(), "detail": "", "snippet": ""}


def bounce_happened(bounce: Mapping[str, Any], subject: str) -> dict[str, str]:
    """A bounce in the user's words: whose address failed, for good or not yet, and why."""
    recipients = [str(r) for r in (bounce.get("recipients") or [])[:3] if r]
    to = ", ".join(recipients) or "a recipient"
    if bounce.get("permanent"):
        title = f"Your e-mail to {to} bounced: the address does not take mail"
    else:
        title = f"Your e-mail to {to} is delayed: not delivered yet, nothing to do"
    return {"title": title, "detail": bounce_reason(bounce) or subject, "snippet": ""}


def bounce_reason(bounce: Mapping[str, Any]) -> str:
    """`5.1.1 user unknown`: the status and the remote server's answer, as far as known."""
    parts = [str(bounce.get(k) or "").strip() for k in ("status", "diagnostic")]
    reason = " ".join(p for p in parts if p)
    return f"Reason: {reason}" if reason else ""


def sender_name(payload: Mapping[str, Any]) -> tuple[str, str]:
    """First and last name from a mail's display name (`Ann Smith <ann@...>`), to pre-fill."""
    mail = payload.get("mail") or {}
    sender = mail.get("from") or {}
    name = str(sender.get("name") or "").strip().strip('"')
    if not name or "@" in name:
        return "", ""
    if "," in name:
        last, _, first = name.partition(",")
        return first.strip(), last.strip()
    first, _, last = name.rpartition(" ")
    return (first, last) if first else (last, "")


def reasons_text(reasons: list[dict[str, Any]]) -> list[dict[str, str]]:
    return [
        {"rule": str(r.get("rule") or ""), "detail": str(r.get("detail") or "")}
        for r in reasons
        if isinstance(r, dict)
    ]


def share(part: int, whole: int) -> str:
    return NO_FIGURE if whole == 0 else f"{round(100 * part / whole)}%"


def version_of(activity: Any) -> str:
    """An activity's state as the inbox shows it, in one string: equal strings, same card."""
    parts = (
        activity.state,
        activity.preset,
        activity.count,
        activity.last_interaction_id,
        activity.due_at,
        activity.updated_at,
        activity.assignee_id,
        activity.contact_id,
    )
    return "|".join("" if p is None else str(p) for p in parts)
