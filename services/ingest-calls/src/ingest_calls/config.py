"""ingest-calls settings (`INGEST_CALLS_*`)."""

from __future__ import annotations

from functools import cached_property

from pydantic import Field, field_validator
from pydantic_settings import SettingsConfigDict

from switchboard_shared.phone import PhonePolicy
from switchboard_shared.settings import ServiceSettings, empty_is_unset, refuse_placeholder


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="INGEST_CALLS_", extra="ignore")

    port: int = 8001
    public_base_url: str | None = Field(
        default=None, description="The URL providers sign, when behind a proxy"
    )
    generic_hmac_secret: str | None = Field(default=None, min_length=16)
    replay_window_s: int = Field(default=300, ge=1, description="Max age of a signed timestamp")
    max_body_bytes: int = Field(default=1_000_000, ge=1024)
    internal_ranges: str = Field(default="", description="Extension ranges, e.g. 100-199,2000-2999")
    internal_max_digits: int = Field(default=5, ge=1, le=8)
    own_numbers: str = Field(default="", description="Our DIDs, comma separated, any format")
    dedupe_window: int = Field(default=10_000, ge=0, description="Recent event ids remembered")

    _empty_is_unset = field_validator("generic_hmac_secret", mode="before")(empty_is_unset)

    @field_validator("generic_hmac_secret")
    @classmethod
    def _no_placeholder(cls, value: str | None) -> str | None:
        return refuse_placeholder("INGEST_CALLS_GENERIC_HMAC_SECRET", value)

    @cached_property
    def phone_policy(self) -> PhonePolicy:
        return PhonePolicy.from_strings(
            self.common.default_region,
            self.internal_ranges,
            self.internal_max_digits,
            self.own_numbers,
        )
