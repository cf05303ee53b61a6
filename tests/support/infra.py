"""Real infrastructure in tests: skip locally when it is missing, fail in strict mode (CI).

Strict mode is `SWITCHBOARD_REQUIRE_INFRA=1` (`.ci/run` sets it). Every test that needs
something outside the repository (a binary such as kubectl, dovecot, postfix, prometheus or
chromium; PostgreSQL; the sisimai corpus) calls `missing_infra` when it is absent, never
`pytest.skip` directly: a strict run then fails instead of skipping, and `scripts/test.py`
fails a strict run that skipped anything at all.
"""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def require_infra() -> bool:
    """CI sets SWITCHBOARD_REQUIRE_INFRA=1: no test that needs real infrastructure may skip."""
    return os.environ.get("SWITCHBOARD_REQUIRE_INFRA") == "1"


def missing_infra(reason: str) -> NoReturn:
    if require_infra():
        pytest.fail(f"SWITCHBOARD_REQUIRE_INFRA=1 but {reason}", pytrace=False)
    pytest.skip(reason)
