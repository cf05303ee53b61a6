"""The rejected rows and messages of an import, one JSON object a line, with the reason.

Appended to, so an import resumed after Ctrl-C adds to the report of its first run. Bounded:
excerpts are cut, and past `max_entries` rejects a run only counts them (a file of garbage
cannot fill the disk with its report).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any

EXCERPT_CHARS = 500
MAX_ENTRIES = 100_000


@dataclass(frozen=True)
class Rejected:
    source: str
    where: str  # "line 12", "message 3 (1234.eml)", "INBOX uid 17"
    reason: str
    excerpt: str = ""


class Report:
    def __init__(self, path: Path, max_entries: int = MAX_ENTRIES) -> None:
        self.path = path
        self.max_entries = max_entries
        self.count = 0
        self._stream: IO[str] | None = None

    def add(self, item: Rejected) -> None:
        self.count += 1
        if self.count > self.max_entries + 1:
            return
        if self.count == self.max_entries + 1:
            item = Rejected(
                item.source,
                item.where,
                f"more than {self.max_entries} rejects in "
                "this run: the rest are counted in the summary, not listed",
            )
        if self._stream is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._stream = self.path.open("a", encoding="utf-8")
        entry: dict[str, Any] = {
            "source": item.source,
            "where": item.where,
            "reason": item.reason[:EXCERPT_CHARS],
            "excerpt": item.excerpt[:EXCERPT_CHARS],
        }
        self._stream.write(json.dumps(entry, ensure_ascii=False) + "\n")

    def flush(self) -> None:
        if self._stream is not None:
            self._stream.flush()

    def close(self) -> None:
        if self._stream is not None:
            self._stream.close()
            self._stream = None

    def __enter__(self) -> Report:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
