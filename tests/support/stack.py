"""The whole Switchboard stack as real processes, the way `make run` starts it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from support.ports import free_port

GENERIC_SECRET = "test-generic-secret-0123456789abcdef"
ASTERISK_TOKEN = "test-asterisk-token-0123456789abcdef"
GROUP_OWNER = "group-600-owner@acme-corp.com"  # owns ring group 600 (CRM_STORE_GROUP_OWNERS)
ADMIN_TOKEN = "test-admin-token-0123456789abcdef"
MAIL_TOKEN = "test-mail-token-0123456789abcdef"  # INGEST_MAIL_HTTP_TOKEN: POST /messages
MAIL_AUTH = {"Authorization": f"Bearer {MAIL_TOKEN}"}
SERVICES = ("ingest_calls", "ingest_mail", "classifier", "crm_store")
MAILBOX = "sales@acme-corp.com"  # one of ours: SWITCHBOARD_OWN_DOMAINS below


@dataclass
class Service:
    module: str
    port: int
    log_path: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_tail(self, chars: int = 3000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:] if self.log_path.exists() else ""


@dataclass
class Stack:
    env: dict[str, str]
    services: dict[str, Service] = field(default_factory=dict)

    def url(self, module: str) -> str:
        return self.services[module].url

    def start(self) -> None:
        for service in self.services.values():
            log = service.log_path.open("wb")
            service.process = subprocess.Popen(
                [sys.executable, "-m", service.module],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.wait_ready()

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        pending = dict(self.services)
        while pending and time.monotonic() < deadline:
            for name, service in list(pending.items()):
                assert service.process is not None
                if service.process.poll() is not None:
                    raise RuntimeError(f"{name} exited:\n{service.log_tail()}")
                try:
                    if httpx.get(f"{service.url}/readyz", timeout=2).status_code == 200:
                        del pending[name]
                except httpx.HTTPError:
                    pass
            time.sleep(0.2)
        if pending:
            tails = "\n".join(f"--- {n}\n{s.log_tail()}" for n, s in pending.items())
            raise RuntimeError(f"not ready after {timeout}s: {', '.join(pending)}\n{tails}")

    def stop(self) -> None:
        for service in self.services.values():
            if service.process and service.process.poll() is None:
                os.killpg(service.process.pid, signal.SIGTERM)
        for service in self.services.values():
            if service.process is None:
                continue
            try:
                service.process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(service.process.pid, signal.SIGKILL)
                service.process.wait()


def make_stack(
    workdir: Path, *, bootstrap: str, database_url: str, secrets: dict[str, str]
) -> Stack:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SWITCHBOARD_", "CRM_STORE_"))}
    env.update(
        {
            "SWITCHBOARD_KAFKA_BOOTSTRAP": bootstrap,
            "SWITCHBOARD_DEFAULT_REGION": "US",
            "SWITCHBOARD_OWN_DOMAINS": "acme-corp.com",
            "SWITCHBOARD_LOG_FORMAT": "json",
            "CRM_STORE_DATABASE_URL": database_url,
            "CRM_STORE_OUTBOX_INTERVAL_S": "0.2",
            # State files of the stateful services live with the test, not in the repo's var/.
            "INGEST_MAIL_DATABASE_URL": f"sqlite+aiosqlite:///{workdir / 'ingest-mail.db'}",
            "INGEST_MAIL_HTTP_TOKEN": MAIL_TOKEN,  # ingest-mail refuses to start without one
            **secrets,
        }
    )
    stack = Stack(env)
    for module in SERVICES:
        port = free_port()
        prefix = module.upper()
        env[f"{prefix}_PORT"] = str(port)
        stack.services[module] = Service(module, port, workdir / f"{module}.log")
    env["INGEST_MAIL_LMTP_PORT"] = str(free_port())
    return stack


async def post_mail(
    stack: Stack, raw: bytes, folder: str = "INBOX", mailbox: str = MAILBOX
) -> dict[str, Any]:
    """A message into ingest-mail's HTTP intake, as a mailbox's folder holds it."""
    async with httpx.AsyncClient(base_url=stack.url("ingest_mail")) as client:
        response = await client.post(
            "/messages",
            params={"mailbox": mailbox, "folder": folder},
            content=raw,
            headers={"Content-Type": "message/rfc822", **MAIL_AUTH},
        )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body
