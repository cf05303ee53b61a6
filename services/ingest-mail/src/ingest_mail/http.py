"""HTTP edge: `POST /messages` takes one raw RFC 822 message (pipes, providers' inbound hooks)."""

from __future__ import annotations

import hmac
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from ingest_mail.config import Settings
from ingest_mail.intake import MailIntake, mailbox_address
from ingest_mail.metrics import MESSAGES
from switchboard_shared.kafka import BrokerUnavailable
from switchboard_shared.problems import Problem, read_limited_body

router = APIRouter()
ACCEPTED_TYPES = frozenset({"message/rfc822", "application/octet-stream", "text/plain"})


async def read_body(request: Request, limit: int) -> bytes:
    try:
        return await read_limited_body(request, limit, "Message")
    except Problem:
        MESSAGES.labels("http", "too_large").inc()
        raise


def check_token(request: Request, settings: Settings) -> None:
    if not settings.http_token:  # only with INGEST_MAIL_HTTP_ANONYMOUS=true (config.py)
        return
    offered = request.headers.get("authorization", "")
    scheme, _, token = offered.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        token.strip().encode(), settings.http_token.encode()
    ):
        raise Problem(
            401,
            "Unauthorized",
            "a bearer token is required",
            headers={"WWW-Authenticate": "Bearer"},
        )


def mailbox_of(mailbox: str | None, settings: Settings) -> str:
    value = mailbox or settings.default_mailbox
    if not value:
        raise Problem(422, "Invalid request", "which mailbox? pass ?mailbox=", field="mailbox")
    address = mailbox_address(value)
    if address is None:
        raise Problem(422, "Invalid request", "mailbox is not an e-mail address", field="mailbox")
    return address


@router.post(
    "/messages",
    summary="Receive one raw RFC 822 message",
    responses={
        401: {"description": "The bearer token (INGEST_MAIL_HTTP_TOKEN) is missing or wrong"},
        413: {"description": "Over INGEST_MAIL_MAX_MESSAGE_BYTES"},
        415: {"description": "Not message/rfc822"},
        422: {
            "description": "No usable mailbox; or not a message, or over a cap (parts, depth, "
            "header or decoded size, parse time or memory): kept on ingest.rejected.v1, "
            "`reason` names why"
        },
        503: {"description": "Broker unavailable; retry after Retry-After seconds"},
    },
)
async def receive_message(
    request: Request,
    mailbox: str | None = Query(default=None, description="The mailbox it was delivered to"),
    folder: str | None = Query(
        default=None,
        max_length=200,
        description="The folder it was read from. `Sent` (any case) says the mailbox sent it: "
        "the evidence that a message From one of our addresses is ours",
    ),
) -> JSONResponse:
    settings: Settings = request.app.state.settings
    intake: MailIntake = request.app.state.intake
    check_token(request, settings)
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type not in ACCEPTED_TYPES:
        raise Problem(415, "Unsupported media type", "post the raw message as message/rfc822")
    address = mailbox_of(mailbox, settings)
    raw = await read_body(request, settings.max_message_bytes)
    try:
        accepted = await intake.accept(raw, mailbox=address, folder=folder, intake="http")
    except BrokerUnavailable as exc:
        MESSAGES.labels("http", "unavailable").inc()
        raise Problem(
            503,
            "Broker unavailable",
            "the message could not be stored; retry later",
            headers={"Retry-After": "5"},
        ) from exc
    if accepted.outcome == "rejected":
        raise Problem(
            422,
            "Message refused" if accepted.refused else "Not a message",
            f"kept for replay: {accepted.reason}",
            field="body",
            reason=accepted.reason,
            rejected_event_id=accepted.event_id,
        )
    body: dict[str, Any] = {"event_id": accepted.event_id, "outcome": accepted.outcome}
    if accepted.event is not None:
        body["message_id"] = accepted.event.message_id
        body["direction"] = accepted.event.direction.value
    return JSONResponse(body)


@router.get("/mailboxes", summary="IMAP mailboxes and their state (no secrets)")
async def mailboxes(request: Request) -> list[dict[str, Any]]:
    imap = request.app.state.imap
    return [] if imap is None else [status.as_dict() for status in imap.status()]
