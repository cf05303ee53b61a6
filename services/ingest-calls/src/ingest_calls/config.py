"""ingest-calls settings (`INGEST_CALLS_*`)."""

from __future__ import annotations

from functools import cached_property

import phonenumbers
from pydantic import Field, ValidationInfo, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from ingest_calls.domain import asterisk, telnyx
from switchboard_shared.phone import PhonePolicy
from switchboard_shared.settings import ServiceSettings, empty_is_unset, refuse_placeholder

SECRETS = (
    "generic_hmac_secret",
    "twilio_auth_token",
    "vonage_signature_secret",
    "telnyx_public_key",
    "plivo_auth_token",
    "zadarma_api_secret",
    "aircall_token",
    "asterisk_token",
    "threecx_token",
)


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="INGEST_CALLS_", extra="ignore")

    port: int = 8001
    public_base_url: str | None = Field(
        default=None, description="The URL providers sign, when behind a proxy"
    )
    generic_hmac_secret: str | None = Field(default=None, min_length=16)
    twilio_auth_token: str | None = None
    vonage_signature_secret: str | None = None
    telnyx_public_key: str | None = Field(default=None, description="base64 Ed25519 public key")
    plivo_auth_token: str | None = None
    zadarma_api_secret: str | None = None
    aircall_token: str | None = None
    asterisk_token: str | None = Field(default=None, min_length=16)
    threecx_token: str | None = Field(default=None, min_length=16)
    replay_window_s: int = Field(default=300, ge=1, description="Max age of a signed timestamp")
    max_body_bytes: int = Field(default=1_048_576, ge=1024, description="413 above this (1 MiB)")
    internal_ranges: str = Field(default="", description="Extension ranges, e.g. 100-199,2000-2999")
    internal_max_digits: int = Field(default=5, ge=1, le=8)
    own_numbers: str = Field(default="", description="Our DIDs, comma separated, any format")
    asterisk_timezone: str = "UTC"
    asterisk_inbound_contexts: str = "from-trunk,from-pstn,from-external,from-did-direct,ext-did"
    asterisk_outbound_contexts: str = "from-internal,outbound-allroutes,macro-dialout-trunk"
    asterisk_trunk_channel_prefixes: str = "PJSIP/trunk,SIP/trunk,DAHDI/,IAX2/trunk"
    asterisk_recording_base_url: str = ""
    asterisk_csv_columns: str = ""
    threecx_timezone: str = "UTC"
    plivo_timezone: str = ""
    zadarma_timezone: str = ""
    telnyx_default_direction: str = ""
    threecx_csv_columns: str = ""
    regions: str = Field(
        default="",
        description="Default region per provider endpoint, e.g. asterisk=DE,twilio=US",
    )
    dedupe_window: int = Field(default=10_000, ge=0, description="Recent event ids remembered")

    _empty_is_unset = field_validator(*SECRETS, mode="before")(empty_is_unset)

    @field_validator(*SECRETS)
    @classmethod
    def _no_placeholder(cls, value: str | None, info: ValidationInfo) -> str | None:
        return refuse_placeholder(f"INGEST_CALLS_{str(info.field_name).upper()}", value)

    @field_validator("regions")
    @classmethod
    def _parse_regions(cls, value: str) -> str:
        for item in filter(None, (i.strip() for i in value.split(","))):
            name, sep, region = item.partition("=")
            if not sep or not name.strip():
                raise ValueError(f"expected provider=REGION, got {item!r}")
            if region.strip().upper() not in phonenumbers.SUPPORTED_REGIONS:
                raise ValueError(f"unknown ISO region {region.strip()!r} for {name.strip()}")
        return value

    @model_validator(mode="after")
    def _policy_is_valid(self) -> Settings:
        # Fail at start-up, not on the first webhook, when numbers, ranges or rules are wrong.
        _ = self.phone_policy
        asterisk.rules_from(self.options_for("asterisk"))
        for provider in ("threecx", "plivo", "zadarma"):
            asterisk.zone_of(self.options_for(provider))
        if self.telnyx_public_key:
            telnyx.public_keys(self.telnyx_public_key)
        return self

    def options_for(self, provider: str) -> dict[str, str]:
        """Provider-specific settings: `INGEST_CALLS_<PROVIDER>_<OPTION>` → {option: value}."""
        prefix = f"{provider}_"
        return {
            name.removeprefix(prefix): str(value)
            for name, value in self.model_dump().items()
            if name.startswith(prefix) and name not in SECRETS and isinstance(value, str)
        }

    def region_for(self, provider: str) -> str:
        """The region national numbers from this provider are read in."""
        for item in self.regions.split(","):
            name, _, region = item.partition("=")
            if name.strip().lower() == provider and region.strip():
                return region.strip().upper()
        return self.common.default_region

    @cached_property
    def phone_policy(self) -> PhonePolicy:
        return PhonePolicy.from_strings(
            self.common.default_region,
            self.internal_ranges,
            self.internal_max_digits,
            self.own_numbers,
        )
