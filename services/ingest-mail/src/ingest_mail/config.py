"""ingest-mail settings (`INGEST_MAIL_*`)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from switchboard_shared.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="INGEST_MAIL_", extra="ignore")

    port: int = 8002
    lmtp_port: int = 8025
    max_message_bytes: int = Field(default=25_000_000, ge=1024)
