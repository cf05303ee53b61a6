"""The classifier's state file (SQLite, stdlib `sqlite3`): knowledge, topic offsets, held legs.

Why a file: `crm.contact-points.v1` is compacted and could be re-read at every start, but
`crm.feedback.v1` is an ordinary topic whose old records expire, and the wrong-number
reputation must outlive them. So the knowledge is applied to this file together with the offset
it came from, in one transaction: a restart resumes where it stopped, and a lost file is rebuilt
from the topics (fully for contact points, as far back as retention allows for feedback).
The file also keeps the legs held for their siblings, so a restart loses none of them.

The state belongs to one Kafka cluster: when `kafka_bootstrap` changes, the knowledge and
offsets are dropped and read again from the new cluster.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from classifier.knowledge import Report
from classifier.legs import HeldLeg
from switchboard_shared.events import CallRecorded

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS contact_points (point TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS reports (
    id TEXT PRIMARY KEY, point TEXT NOT NULL, label TEXT NOT NULL, manager TEXT NOT NULL,
    at TEXT NOT NULL, overturn INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS offsets (
    topic TEXT NOT NULL, partition INTEGER NOT NULL, next_offset INTEGER NOT NULL,
    PRIMARY KEY (topic, partition)
);
CREATE TABLE IF NOT EXISTS held_legs (
    interaction_id TEXT PRIMARY KEY, linked_id TEXT NOT NULL, due_at REAL NOT NULL,
    call TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS held_legs_linked ON held_legs (linked_id);
CREATE TABLE IF NOT EXISTS feedback_seen (id TEXT PRIMARY KEY);
"""


@dataclass
class Changes:
    """What one batch of knowledge records does, applied atomically with its offsets."""

    points: dict[str, bool] = field(default_factory=dict)  # point -> known (False: removed)
    reports: list[Report] = field(default_factory=list)
    feedback_ids: list[str] = field(default_factory=list)
    retracted: list[tuple[str, str]] = field(default_factory=list)  # (point, report id) withdrawn
    offsets: dict[tuple[str, int], int] = field(default_factory=dict)  # -> next offset to read


class Repository:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(SCHEMA)

    def close(self) -> None:
        self.db.close()

    def bind_cluster(self, bootstrap: str) -> bool:
        """Tie the knowledge to a cluster; True when it was dropped because the cluster changed."""
        row = self.db.execute("SELECT value FROM meta WHERE key = 'kafka_bootstrap'").fetchone()
        if row is not None and row[0] == bootstrap:
            return False
        with self._transaction():
            dropped = row is not None
            self.db.execute("DELETE FROM contact_points")
            self.db.execute("DELETE FROM reports")
            self.db.execute("DELETE FROM offsets")
            self.db.execute("DELETE FROM feedback_seen")
            self.db.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES ('kafka_bootstrap', ?)",
                (bootstrap,),
            )
        return dropped

    # -- knowledge --------------------------------------------------------------------------

    def points(self) -> list[str]:
        return [row[0] for row in self.db.execute("SELECT point FROM contact_points")]

    def reports(self) -> list[Report]:
        rows = self.db.execute(
            "SELECT id, point, label, manager, at, overturn FROM reports ORDER BY at"
        )
        return [
            Report(r[0], r[1], r[2], r[3], datetime.fromisoformat(r[4]), bool(r[5])) for r in rows
        ]

    def offsets(self) -> dict[tuple[str, int], int]:
        rows = self.db.execute("SELECT topic, partition, next_offset FROM offsets")
        return {(r[0], int(r[1])): int(r[2]) for r in rows}

    def apply(self, changes: Changes) -> set[str]:
        """Apply atomically; returns the feedback ids not seen before (for the metrics)."""
        new_feedback: set[str] = set()
        with self._transaction():
            for feedback_id in changes.feedback_ids:
                cursor = self.db.execute(
                    "INSERT OR IGNORE INTO feedback_seen (id) VALUES (?)", (feedback_id,)
                )
                if cursor.rowcount:
                    new_feedback.add(feedback_id)
            for point, known in changes.points.items():
                if known:
                    self.db.execute(
                        "INSERT OR IGNORE INTO contact_points (point) VALUES (?)", (point,)
                    )
                else:
                    self.db.execute("DELETE FROM contact_points WHERE point = ?", (point,))
            self.db.executemany(
                "INSERT OR IGNORE INTO reports (id, point, label, manager, at, overturn) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (r.id, r.point, r.label, r.manager, r.at.isoformat(), int(r.overturn))
                    for r in changes.reports
                ],
            )
            self.db.executemany(  # after the inserts: a batch may hold a click and its undo
                "DELETE FROM reports WHERE id = ?", [(rid,) for _, rid in changes.retracted]
            )
            self.db.executemany(
                "INSERT OR REPLACE INTO offsets (topic, partition, next_offset) VALUES (?, ?, ?)",
                [(t, p, o) for (t, p), o in changes.offsets.items()],
            )
        return new_feedback

    # -- held legs (implements classifier.legs.HeldLegs) -----------------------------------

    def hold(self, leg: HeldLeg) -> None:
        self.db.execute(
            "INSERT OR IGNORE INTO held_legs (interaction_id, linked_id, due_at, call) "
            "VALUES (?, ?, ?, ?)",
            (
                leg.interaction_id,
                leg.linked_id,
                leg.due_at,
                leg.call.model_dump_json(by_alias=True),
            ),
        )

    def due(self, now: float) -> list[HeldLeg]:
        rows = self.db.execute(
            "SELECT interaction_id, linked_id, due_at, call FROM held_legs WHERE due_at <= ? "
            "ORDER BY due_at, rowid",
            (now,),
        )
        return [HeldLeg(r[0], r[1], float(r[2]), _call(r[3])) for r in rows]

    def release_now(self, linked_id: str) -> int:
        cursor = self.db.execute(
            "UPDATE held_legs SET due_at = 0 WHERE linked_id = ? AND due_at > 0", (linked_id,)
        )
        return cursor.rowcount

    def remove(self, interaction_id: str) -> None:
        self.db.execute("DELETE FROM held_legs WHERE interaction_id = ?", (interaction_id,))

    def count(self) -> int:
        row = self.db.execute("SELECT count(*) FROM held_legs").fetchone()
        return int(row[0])

    def _transaction(self) -> _Transaction:
        return _Transaction(self.db)


class _Transaction:
    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, kind: object, *_: object) -> None:
        self.db.execute("COMMIT" if kind is None else "ROLLBACK")


def _call(payload: str) -> CallRecorded:
    return CallRecorded.model_validate(json.loads(payload))
