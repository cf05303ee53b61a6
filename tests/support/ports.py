"""Free loopback ports and waiting for a server to listen."""

from __future__ import annotations

import os
import random
import socket
import time
from pathlib import Path

# Below this, the kernel never hands a port out as the source of an outgoing connection.
EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
LOWEST = 10_000
SLICES = 8  # one slice of the range per xdist worker, so two workers never pick the same port

_handed_out: set[int] = set()


def _first_ephemeral() -> int:
    try:
        return int(EPHEMERAL_RANGE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32_768


def _bindable(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port() -> int:
    """A loopback port nothing listens on, for a server a test starts.

    Not one the kernel picks (port 0): those come from the ephemeral range, where any outgoing
    connection (a Kafka client's, say) may take the same port between this check and the
    server's bind. Ports below that range are only ever bound on purpose.
    """
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw")
    index = int(worker) % SLICES if worker.isdigit() else 0
    span = (_first_ephemeral() - LOWEST) // SLICES
    start = LOWEST + index * span
    for _ in range(500):
        port = random.randrange(start, start + span)
        if port not in _handed_out and _bindable(port):
            _handed_out.add(port)
            return port
    with socket.socket() as sock:  # a crowded slice: fall back on the kernel's choice
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_listening(port: int, timeout: float = 15.0, host: str = "127.0.0.1") -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            sock.settimeout(0.2)
            if sock.connect_ex((host, port)) == 0:
                return True
        time.sleep(0.05)
    return False
