"""A rejected message is kept whole, compressed when large, and decodes to the exact bytes."""

from __future__ import annotations

import os

import pytest

from switchboard_shared.cloudevents import decode
from switchboard_shared.events import IngestRejected
from switchboard_shared.intake import (
    GZIP_BASE64,
    MAX_KEPT_BYTES,
    KeptBodyTooLarge,
    kept_body,
    rejected_record,
)

RECORD_LIMIT = 1_048_576  # the broker's default record size limit


def kept(body: bytes, **options: object) -> IngestRejected:
    record = rejected_record(
        service="ingest-mail",
        source="ingest-mail/http",
        reason="too_many_parts",
        detail="",
        content_type="message/rfc822",
        body=body,
        **options,  # type: ignore[arg-type]
    )
    assert len(record.value or b"") < RECORD_LIMIT
    _, event = decode(list(record.headers.items()), record.value)
    assert isinstance(event, IngestRejected)
    return event


def test_a_large_bomb_is_kept_whole_compressed() -> None:
    bomb = b"Content-Type: multipart/mixed; boundary=b\r\n\r\n" + b"--b\r\n\r\n" * 3_000_000
    event = kept(bomb, compress=True)
    assert event.body_encoding == GZIP_BASE64
    assert not event.truncated
    assert event.body_bytes == len(bomb)
    assert kept_body(event) == bomb


def test_small_bodies_stay_readable() -> None:
    event = kept(b"Subject: hi\r\n\r\nhello", compress=True)
    assert event.body_encoding == "utf-8"
    assert kept_body(event) == b"Subject: hi\r\n\r\nhello"


def test_what_does_not_fit_even_compressed_keeps_its_first_bytes() -> None:
    noise = os.urandom(MAX_KEPT_BYTES * 2)
    event = kept(noise, compress=True)
    assert event.truncated
    assert event.body_bytes == len(noise)
    assert kept_body(event) == noise[:MAX_KEPT_BYTES]


def test_without_compress_the_old_behaviour_holds() -> None:
    bomb = b"--b\r\n\r\n" * 200_000
    event = kept(bomb)
    assert event.truncated
    assert event.body_encoding != GZIP_BASE64
    assert kept_body(event) == bomb[:MAX_KEPT_BYTES]


def test_a_prefix_of_a_larger_message() -> None:
    event = kept(b"Subject: big\r\n\r\n" + b"x" * 1000, total_bytes=90_000_000, compress=True)
    assert event.truncated
    assert event.body_bytes == 90_000_000


def test_a_forged_record_cannot_expand_past_its_stated_size_or_the_bound() -> None:
    bomb = b"\0" * 5_000_000
    event = kept(bomb, compress=True)
    assert kept_body(event, max_bytes=len(bomb)) == bomb
    forged = event.model_copy(update={"body_bytes": 1000})
    with pytest.raises(KeptBodyTooLarge):
        kept_body(forged)
    with pytest.raises(KeptBodyTooLarge):
        kept_body(event, max_bytes=len(bomb) - 1)
