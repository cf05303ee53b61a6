"""One checkpoint per source: where the next import of it starts, and what was counted so far.

A source is a file (its resolved path and a hash of its first 64 KiB: a file that grew, as
Master.csv does, keeps its checkpoint; a different file at the same path starts over) or a
mailbox folder. The checkpoint moves only after the broker acknowledged everything before it,
and is written atomically (a temporary file renamed over the old one), so a crash or Ctrl-C
loses nothing and repeats at most one batch, which the deterministic ids dedupe downstream.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

HEAD_BYTES = 64 * 1024


@dataclass
class Counts:
    rows: int = 0
    accepted: int = 0
    duplicate: int = 0
    rejected: int = 0

    def add(self, other: Counts) -> None:
        self.rows += other.rows
        self.accepted += other.accepted
        self.duplicate += other.duplicate
        self.rejected += other.rejected


@dataclass
class Checkpoint:
    source: str
    fingerprint: str
    position: dict[str, Any] = field(default_factory=dict)  # offset/line, index, uid...
    counts: Counts = field(default_factory=Counts)
    done: bool = False


def file_fingerprint(path: Path) -> str:
    with path.open("rb") as stream:
        head = stream.read(HEAD_BYTES)
    return hashlib.sha256(head).hexdigest()


class CheckpointStore:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def _path(self, source: str) -> Path:
        name = hashlib.sha256(source.encode()).hexdigest()[:32]
        return self.directory / f"{name}.json"

    def load(self, source: str, fingerprint: str) -> Checkpoint:
        """The checkpoint of `source`, or a fresh one when there is none or the content changed."""
        path = self._path(source)
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            return Checkpoint(source, fingerprint)
        if data.get("source") != source or data.get("fingerprint") != fingerprint:
            return Checkpoint(source, fingerprint)
        counts = Counts(**{k: int(v) for k, v in data.get("counts", {}).items()})
        return Checkpoint(
            source, fingerprint, dict(data.get("position", {})), counts, bool(data.get("done"))
        )

    def save(self, checkpoint: Checkpoint) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self._path(checkpoint.source)
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps(asdict(checkpoint), sort_keys=True))
        os.replace(temporary, path)

    def forget(self, source: str) -> None:
        self._path(source).unlink(missing_ok=True)
