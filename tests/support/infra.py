"""Real infrastructure in tests: skip locally when it is missing, fail in CI."""

from __future__ import annotations

import os

import pytest


def require_infra() -> bool:
    """CI sets SWITCHBOARD_REQUIRE_INFRA=1: no test that needs real infrastructure may skip."""
    return os.environ.get("SWITCHBOARD_REQUIRE_INFRA") == "1"


def missing_infra(reason: str) -> None:
    if require_infra():
        pytest.fail(f"SWITCHBOARD_REQUIRE_INFRA=1 but {reason}", pytrace=False)
    pytest.skip(reason)
