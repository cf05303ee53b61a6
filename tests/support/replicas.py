"""Replicas of one service as real processes, each in a working directory of its own, that a test
kills with SIGKILL and starts again with that directory emptied: a pod replaced in a rolling
deploy, whose local files are gone."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from support.ports import free_port


@dataclass
class Replica:
    module: str
    name: str
    env: dict[str, str]
    workdir: Path
    port: int
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.workdir.parent / f"{self.name}.{self.starts}.log"

    def start(self) -> None:
        """Start in an empty working directory (made if missing)."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.starts += 1
        prefix = self.module.upper()
        env = {**self.env, f"{prefix}_PORT": str(self.port)}
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", self.module],
                env=env,
                cwd=self.workdir,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def kill(self) -> None:
        """SIGKILL, as a node or the kubelet does: no shutdown of any kind."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def wipe(self) -> None:
        """Delete every local file the replica left (a new pod's emptyDir)."""
        shutil.rmtree(self.workdir, ignore_errors=True)

    def replace(self) -> None:
        self.kill()
        self.wipe()
        self.start()

    def ready(self) -> bool:
        if self.process is None:
            return False
        if self.process.poll() is not None:
            raise RuntimeError(f"{self.name} exited:\n{self.log_tail()}")
        try:
            return httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while not self.ready():
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.name} not ready after {timeout}s:\n{self.log_tail()}")
            time.sleep(0.2)

    def metric(self, name: str) -> float:
        """A metric's value summed over its label sets, from /metrics (0 when absent)."""
        try:
            text = httpx.get(f"{self.url}/metrics", timeout=2).text
        except httpx.HTTPError:
            return 0.0
        total = 0.0
        for line in text.splitlines():
            if line.startswith(name) and line[len(name) : len(name) + 1] in (" ", "{"):
                total += float(line.rsplit(" ", 1)[1])
        return total

    def log_tail(self, chars: int = 3000) -> str:
        path = self.log_path
        return path.read_text(errors="replace")[-chars:] if path.exists() else ""

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.kill()


def replicas(module: str, count: int, env: dict[str, str], root: Path) -> list[Replica]:
    """`count` replicas of `module`, each with its own port and working directory under
    `root`."""
    return [
        Replica(module, f"{module}-{i}", dict(env), root / f"{module}-{i}", free_port())
        for i in range(1, count + 1)
    ]
