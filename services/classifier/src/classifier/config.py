"""classifier settings (`CLASSIFIER_*`)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from switchboard_shared.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="CLASSIFIER_", extra="ignore")

    port: int = 8003
    consumer_group: str = "classifier"
    max_attempts: int = Field(
        default=5, ge=1, description="Tries before a message is dead-lettered"
    )
