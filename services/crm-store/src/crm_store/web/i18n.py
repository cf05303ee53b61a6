"""Page text in Python code goes through `_` (templates use Jinja's `_`): the message, formatted
with its named values. Catalogues replace this with a per-request translation."""

from __future__ import annotations

from typing import Any


def _(message: str, **values: Any) -> str:
    return message % values if values else message


gettext = _
