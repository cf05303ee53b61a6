"""A fake Asterisk Manager Interface server that speaks the real protocol over TCP.

It sends the banner, answers `Action: Login` (checking the user and secret, and that the
client asked for the `call` event class, which CEL events belong to), answers `Action: Ping`,
and writes queued events as `Key: Value` blocks. `drop_after` closes the connection after that
many events, mid-call, the way a PBX restart or a network cut does; the rest is sent to the next
connection.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from typing import Any

BANNER = b"Asterisk Call Manager/7.0.3\r\n"


def block(fields: dict[str, Any]) -> bytes:
    return ("".join(f"{k}: {v}\r\n" for k, v in fields.items()) + "\r\n").encode()


@dataclass
class FakeAmi:
    username: str
    secret: str
    events: list[dict[str, Any]] = field(default_factory=list)
    drop_after: list[int] = field(default_factory=list)  # per connection: close after N events
    logins: list[dict[str, str]] = field(default_factory=list)
    pings: int = 0
    connections: int = 0
    sent: int = 0
    _server: asyncio.Server | None = None

    @property
    def port(self) -> int:
        assert self._server is not None
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        limit = self.drop_after.pop(0) if self.drop_after else None
        try:
            writer.write(BANNER)
            login = await self._read(reader)
            self.logins.append(login)
            ok = (
                login.get("Action") == "Login"
                and login.get("Username") == self.username
                and login.get("Secret") == self.secret
                and "call" in login.get("Events", "").lower().split(",")
            )
            answer = {"Response": "Success" if ok else "Error", "ActionID": login["ActionID"]}
            answer["Message"] = "Authentication accepted" if ok else "Authentication failed"
            writer.write(block({"Event": "FullyBooted", "Privilege": "system,all"}))
            writer.write(block(answer))
            await writer.drain()
            if not ok:
                return
            pings = asyncio.create_task(self._answer_pings(reader, writer))
            sent_here = 0
            while True:
                if limit is not None and sent_here >= limit:
                    break
                if self.sent < len(self.events):
                    event = self.events[self.sent]
                    writer.write(block({"Event": "CEL", "Privilege": "call,all", **event}))
                    # Other classes the login also receives are not CEL: the client skips them.
                    writer.write(block({"Event": "Newstate", "Privilege": "call,all"}))
                    await writer.drain()
                    self.sent += 1
                    sent_here += 1
                else:
                    await asyncio.sleep(0.02)
            pings.cancel()
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _answer_pings(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        while True:
            message = await self._read(reader)
            if message.get("Action") == "Ping":
                self.pings += 1
                writer.write(
                    block({"Response": "Success", "ActionID": message["ActionID"], "Ping": "Pong"})
                )
                await writer.drain()

    @staticmethod
    async def _read(reader: asyncio.StreamReader) -> dict[str, str]:
        raw = await reader.readuntil(b"\r\n\r\n")
        fields: dict[str, str] = {}
        for line in raw.decode().split("\r\n"):
            key, sep, value = line.partition(":")
            if sep:
                fields[key.strip()] = value.strip()
        return fields
