"""The progress bar (rows per second, ETA, accepted / duplicate / rejected) and the summary."""

from __future__ import annotations

import time
from types import TracebackType

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from switchboard_import.checkpoint import Counts


class Meter:
    """`total` is in the source's own unit (bytes of a file, messages of a mailbox)."""

    def __init__(
        self, label: str, total: float | None, *, console: Console, show: bool, unit: str = ""
    ) -> None:
        """`unit`: what is accepted when it is not a row each (calls gathered from their legs)."""
        self.label = label
        self.unit = f"{unit} " if unit else ""
        self.console = console
        self.counts = Counts()
        self.started = time.monotonic()
        self.cpu_s = 0.0  # CPU time of parser processes; this process's own is added at the end
        self._cpu_at_start = time.process_time()
        self._rows_at_start = 0
        self._progress: Progress | None = None
        self._task: TaskID | None = None
        if show:
            self._progress = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                TextColumn("{task.fields[rate]:>8.0f} rows/s"),
                TextColumn(
                    "[green]{task.fields[accepted]} " + self.unit + "accepted[/] "
                    "[yellow]{task.fields[duplicate]} duplicate[/] "
                    "[red]{task.fields[rejected]} rejected[/]"
                ),
                TimeElapsedColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                console=console,
                transient=False,
            )
            self._task = self._progress.add_task(
                label, total=total, rate=0.0, accepted=0, duplicate=0, rejected=0
            )

    def resume_from(self, counts: Counts, done: float) -> None:
        """Counts and position a checkpoint carried over from an earlier run."""
        self.counts.add(counts)
        self._rows_at_start = self.counts.rows
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, completed=done)
            self._refresh()

    def advance(self, counts: Counts, done: float) -> None:
        self.counts.add(counts)
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, completed=done)
            self._refresh()

    @property
    def rate(self) -> float:
        elapsed = max(1e-6, time.monotonic() - self.started)
        return (self.counts.rows - self._rows_at_start) / elapsed

    def _refresh(self) -> None:
        assert self._progress is not None
        assert self._task is not None
        self._progress.update(
            self._task,
            rate=self.rate,
            accepted=self.counts.accepted,
            duplicate=self.counts.duplicate,
            rejected=self.counts.rejected,
        )

    def __enter__(self) -> Meter:
        if self._progress is not None:
            self._progress.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._progress is not None:
            self._progress.stop()

    def summary(self, *, interrupted: bool = False, report: str | None = None) -> str:
        c = self.counts
        state = "interrupted (re-run the same command to resume)" if interrupted else "done"
        line = (
            f"{self.label}: {state}; {c.rows} rows: {c.accepted} {self.unit}accepted, "
            f"{c.duplicate} duplicate, {c.rejected} rejected; "
            f"{self.rate:.0f} rows/s this run"
        )
        cpu = self.cpu_s + time.process_time() - self._cpu_at_start
        new_rows = c.rows - self._rows_at_start
        if new_rows:
            line += f" ({cpu / new_rows * 1e6:.0f} us CPU per row)"
        if report and c.rejected:
            line += f"; rejected rows and reasons in {report}"
        return line
