"""crm-store settings (`CRM_STORE_*`)."""

from __future__ import annotations

from pydantic import Field, field_validator
from pydantic_settings import SettingsConfigDict

from switchboard_shared.settings import ServiceSettings, empty_is_unset, refuse_placeholder


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="CRM_STORE_", extra="ignore")

    port: int = 8004
    database_url: str = "sqlite+aiosqlite:///var/crm.db"
    bootstrap_admin_token: str | None = Field(default=None, min_length=16)
    consumer_group: str = "crm-store"
    max_attempts: int = Field(
        default=5, ge=1, description="Tries before a message is dead-lettered"
    )
    outbox_interval_s: float = Field(default=0.5, gt=0)

    _empty_is_unset = field_validator("bootstrap_admin_token", mode="before")(empty_is_unset)

    @field_validator("bootstrap_admin_token")
    @classmethod
    def _no_placeholder(cls, value: str | None) -> str | None:
        return refuse_placeholder("CRM_STORE_BOOTSTRAP_ADMIN_TOKEN", value)
