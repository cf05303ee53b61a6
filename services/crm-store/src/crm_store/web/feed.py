"""What wakes the live inbox: every commit in this process that changed an activity (a new one
from the consumer, a preset on the page or through the API, one closing by itself, an undo, the
expiry) and every sign-out. `live` streams the change to the open pages.

The hook is on SQLAlchemy's `Session` (the sync session under every `AsyncSession`): a flush
that wrote an `Activity`, or an UPDATE/INSERT/DELETE statement on its table, marks the session,
and its commit wakes the listeners. Listeners only learn *that* something changed; each then
reads its own manager's view again, so nothing about one inbox reaches another's stream.
Another process's commits are seen by the listeners' periodic re-read (`live.RECHECK_EVERY`).
"""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from itertools import chain
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session

from crm_store.core import Activity

WATCHED_TABLE = Activity.__tablename__
FLAG = "crm_store.live.changed"


class Feed:
    """Process-wide: who listens, and how many streams each user holds."""

    def __init__(self, max_per_user: int) -> None:
        self.max_per_user = max_per_user
        self._lock = threading.Lock()
        self._waiters: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = set()
        self._streams: Counter[str] = Counter()

    def changed(self) -> None:
        """Wake every listener (from any thread)."""
        with self._lock:
            waiters = list(self._waiters)
        for loop, wake in waiters:
            if not loop.is_closed():
                loop.call_soon_threadsafe(wake.set)

    @contextmanager
    def listening(self) -> Iterator[asyncio.Event]:
        """An event set at each change while the block runs."""
        entry = (asyncio.get_running_loop(), asyncio.Event())
        with self._lock:
            self._waiters.add(entry)
        try:
            yield entry[1]
        finally:
            with self._lock:
                self._waiters.discard(entry)

    def admit(self, user_key: str) -> bool:
        """Count one more stream for this user; False (and nothing counted) over the bound."""
        with self._lock:
            if self._streams[user_key] >= self.max_per_user:
                return False
            self._streams[user_key] += 1
            return True

    def release(self, user_key: str) -> None:
        with self._lock:
            self._streams[user_key] -= 1
            if self._streams[user_key] <= 0:
                del self._streams[user_key]

    def streams(self, user_key: str) -> int:
        with self._lock:
            return self._streams[user_key]


MAX_STREAMS_PER_USER = 4
"""Open inbox pages (tabs, phones) one signed-in user may hold live at once."""

FEED = Feed(MAX_STREAMS_PER_USER)


# -- the hook on commits ---------------------------------------------------------------------


@event.listens_for(Session, "after_flush")
def _after_flush(session: Session, _context: Any) -> None:
    written = chain(session.new, session.dirty, session.deleted)
    if any(isinstance(row, Activity) for row in written):
        session.info[FLAG] = True


@event.listens_for(Session, "do_orm_execute")
def _on_execute(state: ORMExecuteState) -> None:
    if not (state.is_update or state.is_delete or state.is_insert):
        return
    table = getattr(state.statement, "table", None)
    if getattr(table, "name", None) == WATCHED_TABLE:
        state.session.info[FLAG] = True


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    if session.in_nested_transaction():
        return  # a savepoint released: nothing is visible to others yet
    if session.info.pop(FLAG, False):
        FEED.changed()


@event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    if not session.in_nested_transaction():
        session.info.pop(FLAG, None)
