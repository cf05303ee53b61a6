"""The rows of one call, gathered from a file read in order: union over the keys they share.

A call-record file writes one row per leg (Asterisk CDRs: a ring group's phones, a queue's
members, a transfer's new party) or per channel event (CEL). The legs of one call share keys --
a linkedid, party A's uniqueid, a channel's unique name, a parent call's id -- and are close in
the file, though not always next to each other nor in time order. `Grouper` joins rows that
share a key (union-find) and hands a call on once no row has joined it for `window` rows, or,
when its rows say so, once the call has ended (`LINKEDID_END` for every linkedid) and `settle`
more rows went by. A row with no key is a call of its own.

Bounded: at most `max_rows` rows a call (past them it is handed on as it stands) and, by the
window, at most `window` calls held. A row that joins a call already handed on (further than
the window from the rest) is refused by the caller as `late`; keys of calls handed on before a
resumed run's start are given as `sent`, and their rows are skipped, as already counted.

Resuming needs two things, which `cut()` gives: the byte offset of the first row of the oldest
call still held (reading resumes there) and the keys of the calls handed on that have rows at
or after it (their rows are skipped on the re-read).
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Iterable
from dataclasses import dataclass, field

from switchboard_import.csvfile import Row

WINDOW_ROWS = 2000
SETTLE_ROWS = 50
MAX_ROWS_PER_CALL = 2000
REMEMBERED = 200_000  # keys of handed-on calls remembered to spot a late row


@dataclass
class Group:
    rows: list[Row] = field(default_factory=list)
    keys: set[str] = field(default_factory=set)
    linked: set[str] = field(default_factory=set)  # keys that must see an end
    ended: set[str] = field(default_factory=set)
    last: int = 0  # index of the last row that joined

    @property
    def first(self) -> Row:
        return min(self.rows, key=lambda row: row.start)


@dataclass(slots=True)  # made for every row: not frozen, whose __init__ costs 3x
class Added:
    """What `add` did with a row: calls handed on now, and whether the row was a late or an
    already-sent leg (`late`/`skipped`, then it is in no call)."""

    ready: list[list[Row]]
    late: bool = False
    skipped: bool = False


class Grouper:
    def __init__(
        self,
        *,
        window: int = WINDOW_ROWS,
        settle: int = SETTLE_ROWS,
        max_rows: int = MAX_ROWS_PER_CALL,
        sent: Iterable[str] = (),
    ) -> None:
        self.window = window
        self.settle = settle
        self.max_rows = max_rows
        self._index = 0
        self._next_id = 0
        self._owner: dict[str, int] = {}  # key -> group id
        self._groups: OrderedDict[int, Group] = OrderedDict()  # quietest first
        self._ending: OrderedDict[int, int] = OrderedDict()  # complete: gid -> when, oldest first
        self._sent = frozenset(sent)
        self._done: OrderedDict[str, None] = OrderedDict()
        # (offset of its last row, keys) of calls handed on, oldest first: for `cut`
        self._handed: deque[tuple[int, frozenset[str]]] = deque()

    @property
    def held(self) -> int:
        return len(self._groups)

    def add(
        self, row: Row, keys: Iterable[str], *, linked: Iterable[str] = (), ends: str = ""
    ) -> Added:
        """`keys`: what ties this row to others; `linked`: keys of this row that must each see
        an end before the call is complete; `ends`: the key this row ends (LINKEDID_END)."""
        self._index += 1
        keys = set(keys)
        if self._sent and not self._sent.isdisjoint(keys):
            return Added(self._expire(), skipped=True)
        if not self._done.keys().isdisjoint(keys):
            return Added(self._expire(), late=True)
        owner = self._owner
        owners = {owner[key] for key in keys if key in owner}
        if owners:
            gid = max(owners, key=lambda g: len(self._groups[g].rows))
            group = self._groups[gid]
            for other in owners - {gid}:
                merged = self._groups.pop(other)
                self._ending.pop(other, None)
                group.rows += merged.rows
                group.keys |= merged.keys
                group.linked |= merged.linked
                group.ended |= merged.ended
                for key in merged.keys:
                    self._owner[key] = gid
        else:
            gid = self._next_id
            self._next_id += 1
            group = self._groups[gid] = Group()
        group.rows.append(row)
        group.keys |= keys
        if linked:
            group.linked.update(linked)
        if ends:
            group.ended.add(ends)
        for key in keys:
            owner[key] = gid
        group.last = self._index
        self._ending.pop(gid, None)
        if group.linked and group.linked <= group.ended:
            self._ending[gid] = self._index
        self._groups.move_to_end(gid)
        ready = []
        if not keys or len(group.rows) >= self.max_rows:
            ready.append(self._take(gid))
        return Added(ready + self._expire())

    def _expire(self) -> list[list[Row]]:
        out = []
        while self._ending:
            gid, ended_at = next(iter(self._ending.items()))
            if self._index - ended_at < self.settle:
                break
            out.append(self._take(gid))
        while self._groups:
            gid, group = next(iter(self._groups.items()))
            if self._index - group.last < self.window:
                break
            out.append(self._take(gid))
        return out

    def flush(self) -> list[list[Row]]:
        return [self._take(gid) for gid in list(self._groups)]

    def _take(self, gid: int) -> list[Row]:
        group = self._groups.pop(gid)
        self._ending.pop(gid, None)
        for key in group.keys:
            self._owner.pop(key, None)
            self._done[key] = None
        while len(self._done) > REMEMBERED:
            self._done.popitem(last=False)
        if group.keys:
            self._handed.append((max(row.start for row in group.rows), frozenset(group.keys)))
        return sorted(group.rows, key=lambda row: row.start)

    def cut(self, read_to: int, next_line: int) -> tuple[int, int, list[str]]:
        """(offset and line where a resumed read starts, keys of handed-on calls with rows
        from there on), given where the next row would be read."""
        offset, line = read_to, next_line
        if self._groups:
            first = min((g.first for g in self._groups.values()), key=lambda row: row.start)
            offset, line = first.start, first.line
        while self._handed and self._handed[0][0] < offset:
            self._handed.popleft()
        sent = sorted({key for last, keys in self._handed if last >= offset for key in keys})
        return offset, line, sent
