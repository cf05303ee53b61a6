"""A service (or a baseline server) as a process of the bench's own: its environment, its
output in a log file, waiting until it answers /readyz, and stopping it."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import httpx

from support.ports import free_port

__all__ = ["ServiceProcess", "free_port", "service_env"]

READY_TIMEOUT_S = 90.0
STOP_GRACE_S = 15.0


def service_env(
    bootstrap: str, extra: dict[str, str] | None = None, *, drop_prefixes: tuple[str, ...] = ()
) -> dict[str, str]:
    """This process's environment (less the variables starting with `drop_prefixes`) for a
    service on the broker at `bootstrap`, logging warnings only, plus `extra`."""
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(drop_prefixes)}
    return {
        **inherited,
        "SWITCHBOARD_KAFKA_BOOTSTRAP": bootstrap,
        "SWITCHBOARD_LOG_LEVEL": "WARNING",
        **(extra or {}),
    }


class ServiceProcess:
    """A started process, `python -m <module>` when given a module name, else the argv; as a
    context manager, stopped at the end. `pid` is there to read its CPU and memory in /proc
    (`support.proc`)."""

    def __init__(self, command: str | Sequence[str], env: dict[str, str], log_path: Path) -> None:
        argv = [sys.executable, "-m", command] if isinstance(command, str) else list(command)
        self.name = log_path.stem
        self.log_path = log_path
        with log_path.open("wb") as log:
            self.process = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT)

    def __enter__(self) -> ServiceProcess:
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    @property
    def pid(self) -> int:
        return self.process.pid

    def tail(self, size: int = 2000) -> str:
        """The end of its log (the last `size` bytes), for an error message."""
        with self.log_path.open("rb") as log:
            log.seek(max(0, log.seek(0, os.SEEK_END) - size))
            return log.read().decode(errors="replace")

    async def wait_ready(
        self,
        port: int,
        timeout: float = READY_TIMEOUT_S,
        statuses: tuple[int, ...] = (200,),
    ) -> None:
        """Until GET /readyz on `port` answers one of `statuses`; an error with the log's tail
        when the process exits or `timeout` passes first."""
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient() as client:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise RuntimeError(f"{self.name} exited: {self.tail()}")
                try:
                    response = await client.get(f"http://127.0.0.1:{port}/readyz", timeout=1)
                    if response.status_code in statuses:
                        return
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.2)
        self.stop()
        raise RuntimeError(f"{self.name} on {port} not ready after {timeout:.0f}s: {self.tail()}")

    def stop(self, grace: float = STOP_GRACE_S) -> None:
        """SIGTERM, then SIGKILL if it has not exited within `grace` seconds."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(grace)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
