"""The secrets `make run` prints (and the README shows) open nothing in production: a service
given one without SWITCHBOARD_ENVIRONMENT=development refuses to start and names it, and
ingest-mail refuses to start with an open intake."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from support.ports import free_port
from switchboard_shared.settings import DEVELOPMENT_SECRETS

pytestmark = pytest.mark.security

_PREFIXES = ("SWITCHBOARD_", "INGEST_CALLS_", "INGEST_MAIL_", "CRM_STORE_", "CLASSIFIER_")
SERVICE_OF = {
    "INGEST_CALLS_GENERIC_HMAC_SECRET": "ingest_calls",
    "CRM_STORE_BOOTSTRAP_ADMIN_TOKEN": "crm_store",
    "INGEST_MAIL_HTTP_TOKEN": "ingest_mail",
}


def start(module: str, env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """Run the service as a deployment would; it must exit by itself."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(_PREFIXES)}
    base.update(
        {
            "SWITCHBOARD_KAFKA_BOOTSTRAP": f"127.0.0.1:{free_port()}",  # never reached
            f"{module.upper()}_PORT": str(free_port()),
            "INGEST_MAIL_LMTP_PORT": "0",
            "INGEST_MAIL_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'ingest-mail.db'}",
            "CRM_STORE_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'crm.db'}",
            **env,
        }
    )
    return subprocess.run(
        [sys.executable, "-m", module],
        env=base,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("name", sorted(SERVICE_OF))
def test_a_development_secret_is_refused_in_production(name: str, tmp_path: Path) -> None:
    env = {name: DEVELOPMENT_SECRETS[name]}
    if name != "INGEST_MAIL_HTTP_TOKEN":
        env["INGEST_MAIL_HTTP_ANONYMOUS"] = "true"  # not what this case is about
    finished = start(SERVICE_OF[name], env, tmp_path)
    assert finished.returncode != 0, "the service started with a published secret"
    assert name in finished.stdout + finished.stderr


def test_ingest_mail_refuses_an_open_intake(tmp_path: Path) -> None:
    finished = start("ingest_mail", {}, tmp_path)
    assert finished.returncode != 0, "ingest-mail started with an open HTTP intake"
    assert "INGEST_MAIL_HTTP_TOKEN" in finished.stdout + finished.stderr
