"""How many request bytes a service holds at once, across all requests and doors.

A body limit bounds one request; it does not bound three hundred of them arriving together,
each held one byte short of complete. `ByteBudget` is the process-wide bound: every door that
buffers a body (HTTP, LMTP) reserves its bytes before keeping them and releases them when the
request is answered. A request that does not fit is refused at once with "busy, try again"
(HTTP 503 with Retry-After, LMTP 451), which providers and mail servers retry, instead of the
process growing until it is killed.
"""

from __future__ import annotations


class ByteBudget:
    def __init__(self, limit: int) -> None:
        if limit <= 0:
            raise ValueError("a byte budget must be positive")
        self.limit = limit
        self.in_use = 0

    def try_reserve(self, size: int) -> bool:
        """Reserve `size` bytes if they fit; False (and nothing reserved) if not."""
        if size < 0:
            raise ValueError("cannot reserve a negative size")
        if self.in_use + size > self.limit:
            return False
        self.in_use += size
        return True

    def release(self, size: int) -> None:
        self.in_use = max(0, self.in_use - size)


class Reservation:
    """What one request reserved so far; `close()` gives it all back (idempotent)."""

    def __init__(self, budget: ByteBudget | None) -> None:
        self.budget = budget
        self.size = 0

    def add(self, size: int) -> bool:
        if self.budget is None or size == 0:
            return True
        if not self.budget.try_reserve(size):
            return False
        self.size += size
        return True

    def close(self) -> None:
        if self.budget is not None and self.size:
            self.budget.release(self.size)
        self.size = 0
