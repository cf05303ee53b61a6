"""crm-store's HTTP contract is pinned: the OpenAPI document the app serves is byte for byte the
committed `docs/crm-store.openapi.json`. A refactoring must leave it unchanged; a deliberate
change to the API is reviewed as a diff of that file."""

from __future__ import annotations

import difflib

from crm_store import openapi


def test_the_openapi_document_matches_the_committed_snapshot() -> None:
    assert openapi.SNAPSHOT_PATH.exists(), (
        f"{openapi.SNAPSHOT_PATH} is missing; run `python -m crm_store.openapi --write`"
    )
    committed = openapi.SNAPSHOT_PATH.read_text(encoding="utf-8")
    current = openapi.document()
    diff = "".join(
        difflib.unified_diff(
            committed.splitlines(keepends=True),
            current.splitlines(keepends=True),
            "committed",
            "served",
            n=2,
        )
    )
    assert current == committed, (
        "crm-store's OpenAPI document changed (first lines of the diff below). If the change is "
        "deliberate, review it and run `make schemas` (python -m crm_store.openapi --write):\n"
        + diff[:4000]
    )
