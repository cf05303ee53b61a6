"""A circuit breaker for publishing: once the broker is known down, fail at once.

A sender waiting on a stalled broker learns nothing more at the deadline than it could be told
straight away, and every waiting request holds a connection. So:

- closed: publishes go to the broker.
- open: the broker is known down (a publish timed out, or the background probe went
  unanswered); publishes are refused at once, without trying.
- half-open: the breaker has been open `trial_after_s`; the next publish is let through as a
  single trial while the others are still refused. Its success closes the breaker, its failure
  opens it again.

The background probe closes the breaker as soon as the broker answers, so the trial only
matters when the probe cannot tell (it fails while producing works).
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable


class State(enum.Enum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class Breaker:
    def __init__(
        self,
        *,
        trial_after_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        on_change: Callable[[State], None] | None = None,
    ) -> None:
        self.trial_after_s = trial_after_s
        self._clock = clock
        self._on_change = on_change
        self._state = State.CLOSED
        self._opened_at = 0.0

    @property
    def state(self) -> State:
        return self._state

    @property
    def closed(self) -> bool:
        return self._state is State.CLOSED

    def allow(self) -> bool:
        """May a publish go to the broker now? True for the one trial of a half-open breaker."""
        if self._state is State.CLOSED:
            return True
        if self._state is State.OPEN and self._clock() - self._opened_at >= self.trial_after_s:
            self._set(State.HALF_OPEN)
            return True
        return False

    def succeeded(self) -> None:
        """The broker answered (a publish was acknowledged, or the probe was answered)."""
        self._set(State.CLOSED)

    def failed(self) -> None:
        """A publish timed out or could not reach the broker: open, and restart the trial clock."""
        self._opened_at = self._clock()
        self._set(State.OPEN)

    def probe_failed(self) -> None:
        """The probe went unanswered: open, keeping an open breaker's trial clock running, so a
        probe that fails for its own reasons cannot keep publishes from ever being tried."""
        if self._state is State.CLOSED:
            self._opened_at = self._clock()
        self._set(State.OPEN)

    def inconclusive(self) -> None:
        """The trial ended without telling whether the broker is up (the record was refused
        before it was sent): the next publish is the trial."""
        if self._state is State.HALF_OPEN:
            self._set(State.OPEN)

    def _set(self, state: State) -> None:
        if state is not self._state:
            self._state = state
            if self._on_change is not None:
                self._on_change(state)
