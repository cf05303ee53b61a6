"""The form parser every form-posting provider reads through: exactly what `parse_qsl` gives."""

from __future__ import annotations

import random
from urllib.parse import parse_qsl

import pytest

from ingest_calls.domain.request import parse_form

CASES = [
    "",
    "a",
    "a=",
    "=b",
    "&&a=1&&b=2&",
    "a=1=2",
    "x+y=%20z+%2B",
    "a=%zz&b=%E2%82%AC",
    "a=%ff%fe",
    "k=v;w=z",
    "%3D=%26",
    "a=b+c&a=d",
    "CallSid=CA123&From=%2B14155550100&Caller=client%3Aalice&Timestamp=Tue%2C+01+Dec+2026",
]


@pytest.mark.parametrize("text", CASES)
def test_parse_form_is_parse_qsl(text: str) -> None:
    assert parse_form(text) == parse_qsl(text, keep_blank_values=True)


def test_parse_form_is_parse_qsl_on_random_text() -> None:
    rng = random.Random(15)
    alphabet = "ab=&+%2F0ZE€ ;\x00"
    for _ in range(5000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 24)))
        assert parse_form(text) == parse_qsl(text, keep_blank_values=True), text
