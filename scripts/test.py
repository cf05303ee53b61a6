"""`make test`: every test tier, against real servers the fixtures start.

Unit tests run first (fast, pure); integration and end-to-end tests follow, spread over two
workers; the security tier last, on one process: it attacks one stack it starts for itself and
times every service's answers, which a second busy worker would disturb. Arguments are passed to
pytest (e.g. `make test PYTEST_ARGS='-k generic'`).

At the end the run prints the totals of all tiers, the skipped tests among them by name and
reason. In strict mode (`SWITCHBOARD_REQUIRE_INFRA=1`, as `.ci/run` sets it) nothing may skip:
a run with any skipped test fails, even when every tier passed.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

NO_TESTS_COLLECTED = 5


@dataclass
class Totals:
    passed: int = 0
    failed: int = 0
    xfailed: int = 0
    skipped: list[str] = field(default_factory=list)

    def add_report(self, path: Path) -> None:
        """Count the test cases of a pytest `--junitxml` report."""
        if not path.is_file() or path.stat().st_size == 0:
            return
        # pytest wrote the report a moment ago, for this run
        for case in ET.parse(path).iter("testcase"):  # noqa: S314
            name = f"{case.get('classname', '')}::{case.get('name', '')}"
            if case.find("failure") is not None or case.find("error") is not None:
                self.failed += 1
                continue
            skipped = case.find("skipped")
            if skipped is None:
                self.passed += 1
            elif skipped.get("type") == "pytest.xfail":
                self.xfailed += 1
            else:
                self.skipped.append(f"{name}: {skipped.get('message', '')}")


def strict() -> bool:
    return os.environ.get("SWITCHBOARD_REQUIRE_INFRA") == "1"


def pytest(report: Path, *args: str) -> int:
    command = [sys.executable, "-m", "pytest", *args]
    print("+", " ".join(command[1:]), flush=True)
    code = subprocess.call([*command, f"--junitxml={report}"])
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
    totals = Totals()
    with tempfile.TemporaryDirectory(prefix="switchboard-test-") as reports:
        for number, (name, args) in enumerate(tiers):
            report = Path(reports) / f"tier-{number}.xml"
            if pytest(report, *args) != 0:
                failed.append(name)
            totals.add_report(report)
    elapsed = time.monotonic() - started
    for skipped in totals.skipped:
        print(f"SKIPPED {skipped}", flush=True)
    print(f"skipped tests: {len(totals.skipped)} (expected failures: {totals.xfailed})")
    if totals.skipped and strict():
        print("SWITCHBOARD_REQUIRE_INFRA=1: no test may skip", flush=True)
        failed.append("strict mode (skipped tests)")
    if failed:
        print(f"FAILED: {', '.join(failed)} ({elapsed:.0f}s)", flush=True)
    else:
        print(f"all test tiers passed ({elapsed:.0f}s)", flush=True)
    # The closing line: the totals of every tier.
    print(f"total: {totals.passed} passed, {totals.failed} failed, {len(totals.skipped)} skipped")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
