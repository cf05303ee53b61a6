"""The import command against the real broker: it runs as the user runs it (`switchboard`
`import ...`), in a thread (its own event loop) or as a process (to interrupt it)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from integration.ingest_mail.conftest import account, dovecot  # noqa: F401 (Dovecot fixtures)
from support.records import read_to_end
from switchboard_import.cli import main

DATA = Path(__file__).resolve().parents[2] / "unit" / "importer" / "data"

Run = Callable[..., Awaitable[int]]


@pytest.fixture
def run_import(kafka_bootstrap: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Run:
    """`await run_import("calls", "--format", ...)`: the exit status; state and report under
    tmp_path unless given."""
    monkeypatch.setenv("SWITCHBOARD_KAFKA_BOOTSTRAP", kafka_bootstrap)

    async def run(*args: str) -> int:
        extra = ["--no-progress"]
        if "--state-dir" not in args:
            extra += ["--state-dir", str(tmp_path / "state")]
        if "--report" not in args:
            extra += ["--report", str(tmp_path / "rejected.jsonl")]
        return await asyncio.to_thread(main, ["import", *args, *extra])

    return run


def report_of(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


async def history(bootstrap: str, topic: str, subjects: set[str]) -> list[Any]:
    """The records on `topic` whose ce_subject is one of `subjects` (the topic is shared)."""
    found = []
    for record in await read_to_end(bootstrap, topic):
        headers = {k: v.decode() for k, v in record.headers}
        if headers.get("ce_subject") in subjects:
            found.append(record)
    return found
