"""classifier settings (`CLASSIFIER_*`)."""

from __future__ import annotations

from pathlib import Path

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
    rules_path: Path | None = Field(
        default=None, description="The rules file (YAML); unset: the default rules shipped"
    )
    rules_check_interval_s: float = Field(
        default=2.0, gt=0, description="How often the rules file is checked for changes"
    )
    max_batch: int = Field(
        default=2000,
        ge=1,
        le=10_000,
        description="Most records handled (and verdicts published) per batch; batches grow "
        "to it under a backlog and stay small when the topics are quiet",
    )
