"""`make run` as a user starts it: a crashed service comes back, the rest keep running.

Runs `scripts/devrun.py` (what `make run` runs) on free ports with its own broker and a
throw-away var directory, kills one service the way a crash would (SIGKILL), and checks that the
terminal says it restarts it, that it answers again, and that the others answered meanwhile.
"""

from __future__ import annotations

import importlib.util
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from support.ports import free_port
from switchboard_shared.settings import DEVELOPMENT_SECRETS

ROOT = Path(__file__).resolve().parents[2]
DEVRUN = ROOT / "scripts" / "devrun.py"

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("devrun")]


def _load_devrun() -> Any:
    spec = importlib.util.spec_from_file_location("devrun_under_test", DEVRUN)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_the_printed_development_secrets_are_the_ones_services_admit_only_in_development() -> None:
    devrun = _load_devrun()
    printed = {
        "INGEST_CALLS_GENERIC_HMAC_SECRET": devrun.DEV_GENERIC_SECRET,
        "CRM_STORE_BOOTSTRAP_ADMIN_TOKEN": devrun.DEV_ADMIN_TOKEN,
        "INGEST_MAIL_HTTP_TOKEN": devrun.DEV_MAIL_TOKEN,
    }
    assert printed == DEVELOPMENT_SECRETS


class Terminal:
    """The run's terminal output, collected line by line on a thread."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        self.lines: list[str] = []
        self._changed = threading.Condition()
        assert process.stdout is not None
        self._thread = threading.Thread(target=self._read, args=(process.stdout,), daemon=True)
        self._thread.start()

    def _read(self, stream: object) -> None:
        for raw in iter(stream.readline, b""):  # type: ignore[attr-defined]
            with self._changed:
                self.lines.append(raw.decode("utf-8", "replace").rstrip("\n"))
                self._changed.notify_all()

    def wait_for(self, needle: str, timeout: float, start: int = 0) -> int:
        """Index of the first line from `start` on that contains `needle`."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for index in range(start, len(self.lines)):
                    if needle in self.lines[index]:
                        return index
                left = deadline - time.monotonic()
                if left <= 0:
                    text = "\n".join(self.lines[-60:])
                    raise AssertionError(f"{needle!r} not printed in {timeout}s:\n{text}")
                self._changed.wait(left)


def _status(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=1.0) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return None


def _child_pid(parent: int, module: str) -> int:
    """The pid of `python -m <module>` started by `parent`."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == parent and module.encode() in cmdline and b"-m" in cmdline:
            return int(entry.name)
    raise AssertionError(f"no child `-m {module}` of {parent}")


@pytest.fixture
def devrun(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], Terminal, dict[str, int]]]:
    ports = {
        "INGEST_CALLS_PORT": free_port(),
        "INGEST_MAIL_PORT": free_port(),
        "INGEST_MAIL_LMTP_PORT": free_port(),
        "CLASSIFIER_PORT": free_port(),
        "CRM_STORE_PORT": free_port(),
    }
    env = {k: v for k, v in os.environ.items() if not k.startswith(("INGEST_", "CRM_STORE_"))}
    env.pop("SWITCHBOARD_KAFKA_BOOTSTRAP", None)
    env.update({name: str(port) for name, port in ports.items()})
    env["SWITCHBOARD_KAFKA_BOOTSTRAP"] = f"127.0.0.1:{free_port()}"
    env["SWITCHBOARD_VAR_DIR"] = str(tmp_path / "var")
    process = subprocess.Popen(
        [sys.executable, str(DEVRUN)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    terminal = Terminal(process)
    try:
        yield process, terminal, ports
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def test_a_crashed_service_is_restarted_and_the_others_keep_running(
    devrun: tuple[subprocess.Popen[bytes], Terminal, dict[str, int]],
) -> None:
    process, terminal, ports = devrun
    ready = terminal.wait_for("Switchboard is running", timeout=90)
    banner = "\n".join(terminal.lines[ready : ready + 60])
    assert DEVELOPMENT_SECRETS["INGEST_MAIL_HTTP_TOKEN"] in banner, banner
    assert 'Authorization: Bearer $MAIL_TOKEN"' in banner, banner
    # The first administrator's link to set a password is on the terminal, and it opens.
    said_link = terminal.wait_for("has no password yet", timeout=5)
    found = re.search(
        r"http://127\.0\.0\.1:\d+/set-password\?key=sbl_[\w-]+", terminal.lines[said_link]
    )
    assert found, terminal.lines[said_link]
    assert found.group(0).startswith(f"http://127.0.0.1:{ports['CRM_STORE_PORT']}/")
    assert _status(found.group(0)) == 200

    classifier = f"http://127.0.0.1:{ports['CLASSIFIER_PORT']}/healthz"
    store = f"http://127.0.0.1:{ports['CRM_STORE_PORT']}/healthz"
    assert _status(classifier) == 200
    victim = _child_pid(process.pid, "classifier")
    os.kill(victim, signal.SIGKILL)

    said = terminal.wait_for("classifier exited with code -9; restarting it in", 20, ready)
    # The others never went away, and the run itself is still going.
    assert _status(store) == 200
    assert process.poll() is None
    terminal.wait_for("starting classifier again", 30, said)
    deadline = time.monotonic() + 60
    while _status(classifier) != 200:
        assert time.monotonic() < deadline, "\n".join(terminal.lines[-40:])
        assert process.poll() is None
        time.sleep(0.2)
    assert _child_pid(process.pid, "classifier") != victim
    assert _status(store) == 200

    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=40) == 0
    terminal.wait_for("stopped 4 services and the broker", 5, said)
