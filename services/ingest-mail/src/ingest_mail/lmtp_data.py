"""Reading an LMTP message body in bulk, not line by line.

aiosmtpd's DATA reads one line per await and keeps a bytearray per line: a 19 MB message of
4.5 million short lines (a MIME part bomb) held the event loop ~30 s and took ~720 MiB before
any cap could look at it. `BulkDataLMTP` reads the same bytes in runs up to the next ".\\r\\n"
(or the stream's line limit), into one buffer, and undoes the dot-stuffing in one pass. The
replies are aiosmtpd's: 552 past `data_size_limit`, 500 for a line over 1000 bytes (RFC 5321
4.5.3.1.6), both only once the whole body is read, one per recipient as LMTP wants (RFC 2033
4.2). The bytes kept count against the service's `ByteBudget`, shared with the HTTP door: a body
that does not fit is read through and dropped, and each recipient gets `451 4.3.1` (the mail
server keeps the message and tries again later), so many large deliveries at once cannot take
the process's memory. A client that declares the size in `MAIL FROM ... SIZE=` (Postfix does,
as the server offers SIZE) has it reserved whole before the body is sent, and is told `451` to
DATA at once when it does not fit; so under load the deliveries that started first finish
instead of all of them running out of room half way.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable

from aiosmtpd.lmtp import LMTP
from aiosmtpd.smtp import MISSING

from switchboard_shared.budget import ByteBudget, Reservation

__all__ = ["BulkDataLMTP", "read_data"]

log = logging.getLogger(__name__)

# A line of 1000 bytes or more before its CRLF (linear: tried only where a line starts).
_LONG_FIRST_LINE_RE = re.compile(rb"[^\r\n]{1000}")
_LONG_LINE_RE = re.compile(rb"\n[^\r\n]{1000}")


BUSY_REPLY = "451 4.3.1 Too much mail is being received at once; try again later"


class DataRefused(Exception):
    """The body broke a limit; `reply` says which (sent once the whole body is read)."""

    def __init__(self, reply: str) -> None:
        super().__init__(reply)
        self.reply = reply


async def read_data(
    reader: asyncio.StreamReader,
    size_limit: int | None,
    reserve: Callable[[int], bool] | None = None,
) -> bytes:
    """The message after DATA, up to the lone "." line, dot-stuffing undone.

    Raises `DataRefused` after reading through the end when it is too large, a line too long,
    or `reserve` (asked for every run of bytes kept) refuses. Reads nothing past the end: what
    the client pipelined next stays in `reader`.
    """
    body = bytearray()
    tail = b"\r\n"  # the two bytes before what is read next: DATA's line ended with CRLF
    too_much = False
    busy = False
    while True:
        try:
            chunk = await reader.readuntil(b".\r\n")
        except asyncio.LimitOverrunError as exc:  # no ".\r\n" within the stream's line limit
            chunk = await reader.read(exc.consumed)
        else:
            before = (tail + chunk[:-3])[-2:]
            if before == b"\r\n":  # a line that is only ".": the end
                piece = chunk[:-3]
                if not too_much:
                    body += piece
                break
        if not (too_much or busy):
            if reserve is not None and not reserve(len(chunk)):
                busy = True
                body = bytearray()  # keep reading to the end, keep nothing
            else:
                body += chunk
            if size_limit and len(body) > size_limit:
                too_much = True
                body = bytearray()
        tail = (tail + chunk)[-2:]
    if too_much or (size_limit and len(body) > size_limit):
        raise DataRefused("552 Error: Too much mail data")
    if busy:
        raise DataRefused(BUSY_REPLY)
    if _LONG_FIRST_LINE_RE.match(body) or _LONG_LINE_RE.search(body):
        raise DataRefused("500 Line too long (see RFC5321 4.5.3.1.6)")
    if body.startswith(b"."):
        del body[0]
    return bytes(body.replace(b"\r\n.", b"\r\n"))


def declared_size(mail_options: list[str]) -> int | None:
    """The `SIZE=` a client gave in MAIL FROM (RFC 1870), if any."""
    for option in mail_options:
        name, _, value = option.partition("=")
        if name.upper() == "SIZE" and value.isascii() and value.isdigit():
            return int(value)
    return None


class BulkDataLMTP(LMTP):
    """aiosmtpd's LMTP, with DATA read by `read_data` and held within `budget`."""

    def __init__(self, *args: object, budget: ByteBudget | None = None, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.budget = budget

    async def smtp_DATA(self, arg: str) -> None:
        if await self.check_helo_needed():
            return
        if await self.check_auth_needed("DATA"):
            return
        assert self.envelope is not None
        if not self.envelope.rcpt_tos:
            await self.push("503 Error: need RCPT command")
            return
        if arg:
            await self.push("501 Syntax: DATA")
            return
        held = Reservation(self.budget)
        declared = declared_size(self.envelope.mail_options) or 0
        if declared and not held.add(declared):
            await self.push(BUSY_REPLY)  # before any of the body is sent
            return
        kept = 0

        def reserve(size: int) -> bool:
            """Reserve what the body holds beyond the size reserved for it up front."""
            nonlocal kept
            beyond = min(size, kept + size - declared)
            kept += size
            return beyond <= 0 or held.add(beyond)

        try:
            await self.push("354 End data with <CR><LF>.<CR><LF>")
            try:
                content = await read_data(self._reader, self.data_size_limit, reserve)
            except asyncio.CancelledError:
                log.info("connection lost during DATA")
                self._writer.close()
                raise
            except DataRefused as refused:
                # LMTP answers DATA once per recipient (RFC 2033 4.2), a refusal included.
                for _ in self.envelope.rcpt_tos:
                    await self.push(refused.reply)
                self._set_post_data_state()  # type: ignore[no-untyped-call]
                return
            self.envelope.content = content
            self.envelope.original_content = content
            status = await self._call_handler_hook("DATA")
            self._set_post_data_state()  # type: ignore[no-untyped-call]
            await self.push("250 OK" if status is MISSING else status)
        finally:
            held.close()
