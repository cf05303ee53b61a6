"""Page text in Python goes through `_` (templates use Jinja's `_`), so catalogues can translate
it later. For now it only fills in the named values."""

from __future__ import annotations

from typing import Any


def _(message: str, **values: Any) -> str:
    return message % values if values else message
