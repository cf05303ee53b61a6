"""`make test`: every test tier, against real servers the fixtures start.

Unit tests run first (fast, pure); integration and end-to-end tests follow, spread over two
workers; the security tier last, on one process: it attacks one stack it starts for itself and
times every service's answers, which a second busy worker would disturb. Arguments are passed to
pytest (e.g. `make test PYTEST_ARGS='-k generic'`).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

NO_TESTS_COLLECTED = 5


def pytest(*args: str) -> int:
    command = [sys.executable, "-m", "pytest", *args]
    print("+", " ".join(command[1:]), flush=True)
    code = subprocess.call(command)
    return 0 if code == NO_TESTS_COLLECTED else code


def main(argv: list[str]) -> int:
    workers = os.environ.get("SWITCHBOARD_TEST_WORKERS", "2")
    started = time.monotonic()
    tiers = [
        ("unit", ["tests/unit", "-q", *argv]),
        (
            "integration + e2e",
            ["tests/integration", "tests/e2e", "-q", "-n", workers, "--dist", "loadgroup", *argv],
        ),
        ("security", ["tests/security", "-q", *argv]),
    ]
    failed = []
    for name, args in tiers:
        if pytest(*args) != 0:
            failed.append(name)
    elapsed = time.monotonic() - started
    if failed:
        print(f"FAILED tiers: {', '.join(failed)} ({elapsed:.0f}s)", flush=True)
        return 1
    print(f"all test tiers passed ({elapsed:.0f}s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
