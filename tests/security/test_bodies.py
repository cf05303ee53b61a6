"""Oversized and slow bodies on every HTTP port.

A body is refused at its limit, never read whole: a declared Content-Length over the limit is
answered before a byte of the body is sent; a chunked body is cut off near the limit; a request
without credentials is answered before its body is read. Many clients trickling bytes hold
connections, but every service keeps answering `/healthz`.
"""

from __future__ import annotations

import http.client
import socket
import time
from dataclasses import dataclass

import httpx
import pytest

from security.conftest import MAIL_TOKEN, OUR_DOMAIN, Besiege
from security.harness import (
    MiB,
    Trickle,
    answer_without_body,
    connect,
    head,
    read_answer,
    stream_until_answered,
)
from support.stack import ADMIN_TOKEN, Stack

pytestmark = pytest.mark.security

HUGE = 256 * MiB
# What a client may push before a refusal reaches it: the limit, plus what the kernel's socket
# buffers and the server's read buffer hold on the way (several MiB on loopback).
IN_FLIGHT = 16 * MiB
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
MAIL = {"Authorization": f"Bearer {MAIL_TOKEN}"}
MAILBOX = f"/messages?mailbox=sales@{OUR_DOMAIN}"


@dataclass(frozen=True)
class Door:
    """A route that takes a body, and what it takes."""

    service: str
    path: str
    content_type: str
    limit: int
    credentials: dict[str, str]

    def __str__(self) -> str:
        return f"{self.service} {self.path.split('?')[0]}"


DOORS = [
    Door("ingest_calls", "/webhooks/generic", "application/json", 1_048_576, {}),
    Door("ingest_mail", MAILBOX, "message/rfc822", 25_000_000, MAIL),
    Door("crm_store", "/api/v1/contacts", "application/json", 1_048_576, ADMIN),
    Door("crm_store", "/login", "application/x-www-form-urlencoded", 1_048_576, {}),
]


@pytest.mark.parametrize(
    ("service", "path", "headers", "expected"),
    [
        ("ingest_calls", "/webhooks/generic", {"Content-Type": "application/json"}, {413}),
        ("ingest_mail", MAILBOX, {"Content-Type": "message/rfc822"}, {401, 413}),
        ("ingest_mail", MAILBOX, {"Content-Type": "message/rfc822", **MAIL}, {413}),
        ("classifier", "/healthz", {"Content-Type": "application/json"}, {405, 413}),
        ("crm_store", "/api/v1/contacts", {"Content-Type": "application/json"}, {401, 413}),
        ("crm_store", "/api/v1/contacts", {"Content-Type": "application/json", **ADMIN}, {413}),
        ("crm_store", "/login", {"Content-Type": "application/x-www-form-urlencoded"}, {413}),
    ],
    ids=[
        "ingest_calls-webhook",
        "ingest_mail-messages-no-token",
        "ingest_mail-messages-token",
        "classifier-healthz",
        "crm_store-contacts-no-token",
        "crm_store-contacts-admin",
        "crm_store-login",
    ],
)
def test_a_huge_declared_body_is_refused_before_it_is_sent(
    stack: Stack,
    siege: Besiege,
    service: str,
    path: str,
    headers: dict[str, str],
    expected: set[int],
) -> None:
    """256 MiB announced (crm-store read such a body without a token and reached 971 MB): the
    answer comes while the body is still unsent, and pushing the body anyway costs nothing."""
    port = stack.services[service].port
    request = {**headers, "Content-Length": str(HUGE)}
    with siege(f"256 MiB declared to {service} {path.split('?')[0]}") as measured:
        answer = answer_without_body(port, "POST", path, request)
        assert answer.status in expected, (answer.status, answer.body[:300])
        pushed = stream_until_answered(
            port, "POST", path, request, total=HUGE, chunk=b"x" * 65536, chunked=False
        )
        assert pushed.status in expected, (pushed.status, pushed.body[:300])
        assert pushed.sent < IN_FLIGHT, f"the server read {pushed.sent} bytes of a refused body"
        measured.notes["pushed_mib"] = round(pushed.sent / MiB, 1)
    measured.check()


@pytest.mark.parametrize(
    ("service", "path", "declared", "content_type", "expected"),
    [
        ("crm_store", "/api/v1/contacts", 900_000, "application/json", 401),
        ("crm_store", "/api/v1/tokens", 900_000, "application/json", 401),
        ("ingest_mail", MAILBOX, 10_000_000, "message/rfc822", 401),
        # A provider with no secret configured is disabled: nothing of the body is read.
        ("ingest_calls", "/webhooks/twilio", 900_000, "application/x-www-form-urlencoded", 404),
    ],
    ids=["crm_store-contacts", "crm_store-tokens", "ingest_mail-messages", "ingest_calls-twilio"],
)
def test_a_stranger_is_refused_before_the_body_is_read(
    stack: Stack, service: str, path: str, declared: int, content_type: str, expected: int
) -> None:
    """Under the size limit, without credentials: refused while the body is still unsent (a
    422 would mean the body was read and parsed first)."""
    port = stack.services[service].port
    for token in (None, "not-a-token-0123456789abcdef"):
        headers = {"Content-Type": content_type, "Content-Length": str(declared)}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        answer = answer_without_body(port, "POST", path, headers)
        assert answer.status == expected, (answer.status, answer.body[:300])


FORM = "application/x-www-form-urlencoded"
HOSTILE = [
    ("crm_store", "/api/v1/contacts", "application/json", b"[" * 1_000_000, ADMIN),
    ("crm_store", "/api/v1/contacts", "application/json", b'{"a":' * 200_000, ADMIN),
    ("crm_store", "/login", FORM, b"a=1&" * 8_000, {}),  # forms take 32 KiB, 32 fields
    ("ingest_calls", "/webhooks/generic", "application/json", b"[" * 1_000_000, {}),
]


@pytest.mark.parametrize(
    ("service", "path", "content_type", "body", "credentials"),
    HOSTILE,
    ids=["json-arrays", "json-objects", "form-fields", "webhook-json"],
)
def test_a_hostile_body_under_the_limit_is_a_client_error(
    stack: Stack,
    siege: Besiege,
    service: str,
    path: str,
    content_type: str,
    body: bytes,
    credentials: dict[str, str],
) -> None:
    """1 MB of nesting or of form fields: a 4xx, never a 5xx or a stalled service."""
    url = stack.url(service)
    with siege(f"{len(body) // 1000} kB of {body[:4]!r}... to {service} {path}") as measured:
        response = httpx.post(
            url + path, content=body, headers={"Content-Type": content_type, **credentials}
        )
        measured.notes["status"] = response.status_code
    assert 400 <= response.status_code < 500, (response.status_code, response.text[:300])
    measured.check()


def test_a_page_post_without_a_session_is_answered_before_its_form(stack: Stack) -> None:
    port = stack.services["crm_store"].port
    headers = {"Content-Type": "application/x-www-form-urlencoded", "Content-Length": "900000"}
    answer = answer_without_body(port, "POST", "/contacts/search", headers)
    assert answer.status in (303, 401, 403), (answer.status, answer.body[:300])
    if answer.status == 303:
        assert answer.headers["location"] == "/login"


@pytest.mark.parametrize("door", DOORS, ids=str)
def test_a_chunked_body_is_cut_off_at_the_limit(stack: Stack, siege: Besiege, door: Door) -> None:
    """No Content-Length to check up front: the body is counted as it arrives and refused at
    the limit (with credentials, so the route would otherwise read it all)."""
    port = stack.services[door.service].port
    headers = {"Content-Type": door.content_type, **door.credentials}
    total = max(64 * MiB, 2 * door.limit + IN_FLIGHT)
    with siege(f"chunked {total // MiB} MiB to {door}") as measured:
        answer = stream_until_answered(
            port, "POST", door.path, headers, total=total, chunk=b"x" * 65536
        )
        measured.notes["pushed_mib"] = round(answer.sent / MiB, 1)
    assert answer.status == 413, (answer.status, answer.body[:300])
    assert answer.sent < door.limit + IN_FLIGHT, f"{answer.sent} bytes went in before the 413"
    measured.check()


SLOW_CLIENTS = 150
ARRIVING = 15  # new slow clients per port each half second
TRICKLE_S = 7.0


def test_many_slow_bodies_do_not_starve_anyone(stack: Stack, siege: Besiege) -> None:
    """Slow clients on every port at once, arriving over the first seconds: bodies announced
    and sent a byte per half second, and (on the classifier, which takes no body) request heads
    that never end."""
    trickles = []
    for door in DOORS[:3]:
        request = head(
            "POST",
            door.path,
            {"Content-Type": door.content_type, "Content-Length": "1000000", **door.credentials},
        )
        trickles.append(Trickle(stack.services[door.service].port, request, b"x", 0))
    slow_head = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    trickles.append(Trickle(stack.services["classifier"].port, slow_head, b"X-Slow: 1\r\n", 0))
    with siege(f"{SLOW_CLIENTS} slow clients on each port") as measured:
        try:
            deadline = time.monotonic() + TRICKLE_S
            while time.monotonic() < deadline:
                for trickle in trickles:
                    trickle.grow(min(ARRIVING, SLOW_CLIENTS - len(trickle.open) - trickle.ended))
                    trickle.tick()
                time.sleep(0.5)  # the deliberate trickle
            measured.notes["held"] = sum(len(t.open) for t in trickles)
            measured.notes["ended_by_server"] = sum(t.ended for t in trickles)
        finally:
            for trickle in trickles:
                trickle.__exit__()
    measured.check()


CUT_OFF_S = 15.0


def test_a_slow_client_is_cut_off(stack: Stack) -> None:
    """A request whose head or body crawls in (2 bytes a second, far below any real client)
    is ended by the server within 15 s, answered (408) or closed: a head must be complete
    within 10 s, a body gets 10 s of grace and must then keep a minimum pace. Before, each
    one held a connection and about 55 KiB for ever."""
    trickles: dict[str, Trickle] = {}
    for door in DOORS[:3]:
        request = head(
            "POST",
            door.path,
            {"Content-Type": door.content_type, "Content-Length": "100000", **door.credentials},
        )
        port = stack.services[door.service].port
        trickles[f"{door} body"] = Trickle(port, request, b"x", 5)
    for name, service in stack.services.items():
        slow_head = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        trickles[f"{name} head"] = Trickle(service.port, slow_head, b"X-Slow: 1\r\n", 5)
    for trickle in trickles.values():
        trickle.__enter__()
    try:
        deadline = time.monotonic() + CUT_OFF_S
        while any(t.open for t in trickles.values()) and time.monotonic() < deadline:
            for trickle in trickles.values():
                trickle.tick()
            time.sleep(0.5)  # the deliberate trickle
        held = {name: len(t.open) for name, t in trickles.items() if t.open}
    finally:
        for trickle in trickles.values():
            trickle.__exit__()
    assert not held, f"slow requests still held after {CUT_OFF_S:.0f}s: {held}"


@pytest.mark.parametrize("service", ["ingest_calls", "ingest_mail", "classifier", "crm_store"])
def test_an_oversized_request_head_is_refused(stack: Stack, siege: Besiege, service: str) -> None:
    """Too many header fields, one too long, or a head that never ends (32 MiB): refused (431,
    400, or the connection closed), never buffered."""
    port = stack.services[service].port
    many = {f"X-Filler-{n}": "1" for n in range(500)}
    long = {"X-Filler": "a" * 100_000}
    endless = {"X-Filler": "a" * 32 * MiB}
    with siege(f"oversized request heads to {service}") as measured:
        statuses = []
        for headers in (many, long, endless):
            with connect(port) as sock:
                try:
                    sock.sendall(head("GET", "/healthz", headers))
                    statuses.append(read_answer(sock).status)
                except (ConnectionError, http.client.RemoteDisconnected):
                    statuses.append(0)  # closed without an answer: refused too
        measured.notes["statuses"] = statuses
    assert all(status in (0, 400, 431) for status in statuses), statuses
    assert statuses[0] != 0, "500 header fields: closed without an answer"
    measured.check()


HELD_BODIES = 300


def test_unfinished_webhook_bodies_cost_bounded_memory(stack: Stack, siege: Besiege) -> None:
    """Anyone can post to a webhook URL. 300 connections each send a 1 MiB body but its last
    byte, and wait: ingest-calls must not hold 300 MiB for them (refusing some, 503, is fine)."""
    port = stack.services["ingest_calls"].port
    size = 1_048_576
    request = head(
        "POST",
        "/webhooks/generic",
        {"Content-Type": "application/json", "Content-Length": str(size)},
    )
    held: list[socket.socket] = []
    try:
        with siege(f"{HELD_BODIES} unfinished 1 MiB webhook bodies") as measured:
            for _ in range(HELD_BODIES):
                sock = connect(port)
                try:
                    sock.sendall(request + b"x" * (size - 1))
                except OSError:
                    sock.close()  # refused: fine
                    continue
                held.append(sock)
            time.sleep(2)  # hold them
            measured.notes["held"] = len(held)
    finally:
        for sock in held:
            sock.close()
    measured.check()
