"""`make test`: every test tier, against real servers the fixtures start.

Unit tests run first (fast, pure); integration, end-to-end and security tests follow, spread
over two workers (the security tier's tests share one stack, on one worker, while the other
worker runs the rest). Arguments are passed to pytest (e.g. `make test PYTEST_ARGS='-k generic'`).
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
            "integration + e2e + security",
            [
                "tests/integration",
                "tests/e2e",
                "tests/security",
                "-q",
                "-n",
                workers,
                "--dist",
                "loadgroup",
                *argv,
            ],
        ),
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
