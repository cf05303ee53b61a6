from __future__ import annotations

import pytest

from switchboard_shared.masking import mask_email, mask_name, mask_phone, mask_text


@pytest.mark.parametrize(
    ("value", "masked"),
    [
        ("+493012345656", "+4930******56"),
        ("+4930123456", "+49******56"),
        ("+14155552671", "+141******71"),
        ("+44 330 818 6690", "+4433******90"),
        ("(415) 555-2671", "41******71"),
        ("4930123456", "49******56"),
        ("12345678", "******78"),
        ("101", "*01"),
        ("12", "**"),
        ("anonymous", "***"),
        ("", ""),
    ],
)
def test_mask_phone(value: str, masked: str) -> None:
    assert mask_phone(value) == masked


@pytest.mark.parametrize(
    ("value", "masked"),
    [
        ("jane.doe@example.com", "j***@example.com"),
        ("j@x.example", "j***@x.example"),
        (" Jane@Example.com ", "J***@Example.com"),
        ("@example.com", "***@example.com"),
        ("no-at-sign", "n***"),
        ("", ""),
    ],
)
def test_mask_email(value: str, masked: str) -> None:
    assert mask_email(value) == masked


@pytest.mark.parametrize(
    ("value", "masked"),
    [("Jane Doe", "J***"), ("  Ölaf ", "Ö***"), ("J", "J***"), ("", ""), ("   ", "")],
)
def test_mask_name(value: str, masked: str) -> None:
    assert mask_name(value) == masked


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("call from +49 30 1234567 ended", "call from +493******67 ended"),
        ("caller=(415) 555-2671 to=030/1234567.", "caller=41******71 to=03******67."),
        ("number 415 555 2671 end", "number 41******71 end"),
        ('{"from": "+4930123456"}', '{"from": "+49******56"}'),
        ("From=%2B14155552671&To=%2B4930123456", "From=%2B141******71&To=%2B49******56"),
        ("sip:4930123456@pbx", "sip:49******56@pbx"),
        ("tel:+14155552671;ext=12", "tel:+141******71;ext=12"),
        ("/contacts/+4930123456", "/contacts/+49******56"),
        (
            "mail Jane.Doe+tag@example.co.uk, cc <bob@x.example>",
            "mail J***@example.co.uk, cc <b***@x.example>",
        ),
        ("sip:+4930123456@pbx.example.com", "sip:+***@pbx.example.com"),
        ("user 2026-11-25 1234567", "user 2026-11-25 *****67"),
    ],
)
def test_mask_text_masks_personal_data(text: str, masked: str) -> None:
    assert mask_text(text) == masked


@pytest.mark.parametrize(
    "text",
    [
        "at 2026-11-25T16:22:58Z status 200",
        "at 2026-11-25T16:22:58.123456Z",
        "2026-11-25 16:22:58,123 INFO started",
        "at 16:22:58.123456 ok",
        "date 25.11.2026 and 11/25/2026 and 2026/11/25",
        "id 123e4567-e89b-12d3-a456-426614174000",
        "id 12345678-1234-1234-1234-123456789012",
        "GET /x HTTP/1.1 200 1534",
        "listening on 0.0.0.0:8080, upstream 192.168.100.200:5060",
        "uniqueid=1732551778.42 linkedid 1732551778.41",
        "ratio 0.123456 took 12345 ms",
        "CallSid=CA1234567890abcdef1234567890abcdef",
        "duration=123456ms",
        "ext 101 answered",
        "order 1234567890123456789012",
        "",
    ],
)
def test_mask_text_leaves_other_data_alone(text: str) -> None:
    assert mask_text(text) == text
