"""How the page words things: kinds, durations, times, numbers, what happened. Pure functions."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlsplit

import phonenumbers
from babel.dates import format_date, format_time, format_timedelta
from babel.lists import format_list
from babel.numbers import format_decimal, format_percent
from babel.units import format_unit

from crm_store.web.i18n import N_, _, current

KIND_LABELS = {
    "callback": N_("Call back"),
    "log_outcome": N_("Pick an outcome"),
    "reply": N_("Reply"),
    "identify_contact": N_("Who is this?"),
}
STATE_LABELS = {"open": N_("Open"), "done": N_("Done"), "canceled": N_("Canceled")}
DISPOSITION_LABELS = {
    "auto_closed": N_("needs nobody"),
    "needs_status": N_("needs an outcome"),
    "callback": N_("needs a call back"),
    "reply_needed": N_("needs a reply"),
    "logged": N_("our own act, logged"),
}
CALL_STATUS_LABELS = {
    "answered": N_("answered"),
    "no_answer": N_("not answered"),
    "busy": N_("busy"),
    "failed": N_("failed"),
    "canceled": N_("hung up before an answer"),
    "voicemail": N_("voicemail left"),
}
NO_FIGURE = "\u2013"  # an en dash: nothing to count yet
METRIC_LABELS = {
    "interactions": N_("Interactions handled"),
    "activities_closed": N_("Activities closed"),
}


def why_text(kind: str, tags: list[str], counterpart: str | None) -> str:
    """Why a card asks something, in the user's words (the classifier's rule and detail are on
    the timeline)."""
    if kind == "callback":
        if "voicemail" in tags:
            return _("They called and left a voicemail.")
        if counterpart:
            return _("They called and nobody answered.")
        return _("A withheld number called.")
    if kind == "log_outcome":
        return _("You talked: how did it go?")
    if kind == "reply":
        return _("They wrote and are waiting for an answer.")
    if kind == "identify_contact":
        if counterpart and "@" in counterpart:
            return _("No contact has this address yet.")
        return _("No contact has this number yet.")
    return ""


def kind_label(kind: str) -> str:
    label = KIND_LABELS.get(kind)
    return _(label) if label else kind.replace("_", " ").capitalize()


def state_label(state: str) -> str:
    label = STATE_LABELS.get(state)
    return _(label) if label else state


def metric_label(metric: str) -> str:
    label = METRIC_LABELS.get(metric)
    return _(label) if label else metric.replace("_", " ")


def disposition_label(disposition: str) -> str:
    label = DISPOSITION_LABELS.get(disposition)
    return _(label) if label else disposition.replace("_", " ")


def number(value: float | None) -> str:
    """A count or figure as the user's language writes it (`12 345`, `12,345`)."""
    return NO_FIGURE if value is None else format_decimal(value, locale=current().locale)


def _unit(value: int, unit: str) -> str:
    return format_unit(value, unit, length="short", locale=current().locale)


def duration(seconds: float | None) -> str:
    """`42 sec`, `3 min, 5 sec`, `1 hr, 2 min`, in the user's language."""
    if seconds is None:
        return ""
    total = max(0, round(seconds))
    if total < 60:
        return _unit(total, "duration-second")
    minutes, secs = divmod(total, 60)
    parts = []
    if minutes < 60:
        parts = [_unit(minutes, "duration-minute"), _unit(secs, "duration-second")]
    else:
        hours, minutes = divmod(minutes, 60)
        parts = [_unit(hours, "duration-hour"), _unit(minutes, "duration-minute")]
    return format_list(parts, style="unit-short", locale=current().locale)


def ago(now: datetime, then: datetime) -> str:
    """`just now`, `12 minutes ago`, `3 hours ago`, `2 days ago` in the user's language; the
    absolute time goes beside it."""
    seconds = (now - then).total_seconds()
    if seconds < 60:
        return _("just now")
    return format_timedelta(then - now, threshold=1, add_direction=True, locale=current().locale)


def stamp(at: datetime) -> str:
    """The absolute time, in UTC, as the user's language writes dates and times (the page's
    script shows it in the browser's time zone)."""
    locale = current().locale
    pattern = str(locale.datetime_formats["medium"])
    date = format_date(at, "medium", locale=locale)
    time = format_time(at, "short", tzinfo=UTC, locale=locale)
    return _("%(time)s UTC", time=pattern.replace("{1}", date).replace("{0}", time))


def is_overdue(due_at: datetime | None, now: datetime) -> bool:
    return due_at is not None and due_at < now


def start_of_day(now: datetime) -> datetime:
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


def report_window(now: datetime) -> tuple[datetime, datetime]:
    """Today so far (UTC), never empty."""
    start = start_of_day(now)
    return start, max(now, start + timedelta(seconds=1))


def counterpart_text(value: str | None) -> str:
    """A number as people write it: nationally for a number of the user's region
    (`(415) 555-0123`), internationally otherwise (`+48 22 123 45 67`); an address as is."""
    if not value:
        return _("Withheld number")
    if "@" in value:
        return value
    try:
        parsed = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException:
        return value
    home = phonenumbers.region_code_for_number(parsed) == current().region
    style = (
        phonenumbers.PhoneNumberFormat.NATIONAL
        if home
        else phonenumbers.PhoneNumberFormat.INTERNATIONAL
    )
    return str(phonenumbers.format_number(parsed, style))


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
        return {
            "title": call_title(call),
            "detail": "",
            "snippet": "",
            "recording": recording_url(call),
        }
    if kind == "mail":
        mail = payload.get("mail") or {}
        direction = str(mail.get("direction") or "")
        if direction == "inbound":
            title = _("E-mail received")
        elif direction == "outbound":
            title = _("E-mail sent")
        else:
            title = _("E-mail")
        subject = str(mail.get("subject") or "").strip() or _("(no subject)")
        snippet = str(mail.get("snippet") or "").strip()
        if isinstance(bounce := mail.get("bounce"), Mapping):
            return bounce_happened(bounce, subject)
        return {"title": title, "detail": subject, "snippet": snippet}
    return {"title": kind.capitalize(), "detail": "", "snippet": ""}


def call_title(call: Mapping[str, Any]) -> str:
    direction = str(call.get("direction") or "")
    status = str(call.get("status") or "")
    talk, ring = _number(call, "talk_s"), _number(call, "ring_s")
    if direction == "inbound" and status in ("no_answer", "busy", "canceled", "failed"):
        if ring:
            return _("Missed call, rang %(duration)s", duration=duration(ring))
        return _("Missed call")
    if direction == "inbound" and status == "voicemail":
        return _("Missed call, voicemail left")
    label = CALL_STATUS_LABELS.get(status)
    values = {"outcome": _(label) if label else status}
    if status == "answered" and talk is not None:
        values["duration"] = duration(talk)
        if direction == "inbound":
            return _("Inbound call, %(outcome)s, %(duration)s of talk", **values)
        if direction == "outbound":
            return _("Outbound call, %(outcome)s, %(duration)s of talk", **values)
        return _("A call, %(outcome)s, %(duration)s of talk", **values)
    if direction == "inbound":
        return _("Inbound call, %(outcome)s", **values)
    if direction == "outbound":
        return _("Outbound call, %(outcome)s", **values)
    return _("A call, %(outcome)s", **values)


def bounce_happened(bounce: Mapping[str, Any], subject: str) -> dict[str, str]:
    """A bounce in the user's words: whose address failed, for good or not yet, and why."""
    recipients = [str(r) for r in (bounce.get("recipients") or [])[:3] if r]
    to = ", ".join(recipients) or _("a recipient")
    if bounce.get("permanent"):
        title = _("Your e-mail to %(to)s bounced: the address does not take mail", to=to)
    else:
        title = _("Your e-mail to %(to)s is delayed: not delivered yet, nothing to do", to=to)
    return {"title": title, "detail": bounce_reason(bounce) or subject, "snippet": ""}


def bounce_reason(bounce: Mapping[str, Any]) -> str:
    """`5.1.1 user unknown`: the status and the remote server's answer, as far as known."""
    parts = [str(bounce.get(k) or "").strip() for k in ("status", "diagnostic")]
    reason = " ".join(p for p in parts if p)
    return _("Reason: %(reason)s", reason=reason) if reason else ""


def sender_name(payload: Mapping[str, Any]) -> tuple[str, str]:
    """First and last name from a mail's display name (`Ann Smith <ann@...>`), to pre-fill."""
    mail = payload.get("mail") or {}
    sender = mail.get("from") or {}
    name = str(sender.get("name") or "").strip().strip('"')
    if not name or "@" in name:
        return "", ""
    if "," in name:
        last, _sep, first = name.partition(",")
        return first.strip(), last.strip()
    first, _sep, last = name.rpartition(" ")
    return (first, last) if first else (last, "")


def reasons_text(reasons: list[dict[str, Any]]) -> list[dict[str, str]]:
    return [
        {"rule": str(r.get("rule") or ""), "detail": str(r.get("detail") or "")}
        for r in reasons
        if isinstance(r, dict)
    ]


def share(part: int, whole: int) -> str:
    if whole == 0:
        return NO_FIGURE
    return format_percent(round(part / whole, 2), locale=current().locale)


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


def preset_label(preset: Any) -> str:
    """A preset's label in the user's language when the administrator gave one (`labels`, per
    locale), else its label."""
    labels = getattr(preset, "labels", None)
    if isinstance(labels, Mapping):
        language = current()
        for code in (language.code, language.locale.language):
            text = labels.get(code)
            if isinstance(text, str) and text.strip():
                return text
    return str(preset.label)
