"""ingest-calls settings (`INGEST_CALLS_*`)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from functools import cached_property
from typing import Annotated
from urllib.parse import unquote, urlsplit

import phonenumbers
from pydantic import Field, ValidationInfo, field_validator, model_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from ingest_calls.domain import asterisk, telnyx, zadarma
from switchboard_shared.phone import PhonePolicy
from switchboard_shared.settings import (
    ServiceSettings,
    empty_is_unset,
    refuse_development_secret,
    refuse_placeholder,
    split_csv,
)

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
# Every provider secret is at least this long (the providers issue 20 to 40 characters; the
# Telnyx key is checked as a key instead).
SECRET_MIN_LENGTH = 16
# The providers that sign the URL they call: the URL must come from configuration, not from
# the request's Host header, which the client chooses.
URL_SIGNING_SECRETS = ("twilio_auth_token", "plivo_auth_token")

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
# Settings named like a provider option that are not options (they hold credentials).
NOT_OPTIONS = frozenset({"asterisk_ami_url"})
AMI_DEFAULT_PORT = 5038


@dataclass(frozen=True)
class AmiTarget:
    """Where and as whom to log in to the Asterisk Manager Interface."""

    host: str
    port: int
    username: str
    secret: str = dataclass_field(repr=False)

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


def ami_target(url: str) -> AmiTarget:
    """`tcp://user:secret@pbx:5038` -> AmiTarget; ValueError (never echoing the secret)."""
    parts = urlsplit(url.strip())
    try:
        port = parts.port or AMI_DEFAULT_PORT
    except ValueError as exc:
        raise ValueError("INGEST_CALLS_ASTERISK_AMI_URL has a bad port") from exc
    if parts.scheme != "tcp" or not parts.hostname or not parts.username or not parts.password:
        raise ValueError(
            "INGEST_CALLS_ASTERISK_AMI_URL must look like tcp://user:secret@pbx:5038 (the "
            "manager.conf user and its secret, URL-encoded)"
        )
    if parts.path not in ("", "/") or parts.query:
        raise ValueError("INGEST_CALLS_ASTERISK_AMI_URL takes no path or query")
    return AmiTarget(parts.hostname, port, unquote(parts.username), unquote(parts.password))


def env_name(field: str) -> str:
    return f"INGEST_CALLS_{field.upper()}"


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(
        env_prefix="INGEST_CALLS_", extra="ignore", hide_input_in_errors=True
    )

    port: int = 8001
    public_base_url: str | None = Field(
        default=None,
        description="The URL providers reach this service at (https://calls.example.com), "
        "which Twilio and Plivo sign",
    )
    trusted_proxies: Annotated[list[Network], NoDecode] = Field(
        default_factory=list,
        description="Addresses or networks of the proxies whose X-Forwarded-Host and "
        "X-Forwarded-Proto give the signed URL, when PUBLIC_BASE_URL is not set",
    )
    generic_hmac_secret: str | None = None
    twilio_auth_token: str | None = None
    vonage_signature_secret: str | None = None
    telnyx_public_key: str | None = Field(default=None, description="base64 Ed25519 public key")
    plivo_auth_token: str | None = None
    zadarma_api_secret: str | None = None
    aircall_token: str | None = None
    asterisk_token: str | None = None
    asterisk_ami_url: str | None = Field(
        default=None,
        description="tcp://user:secret@pbx:5038: read CEL events from the Asterisk Manager "
        "Interface (manager.conf user with read = call)",
    )
    cel_assembler: bool = Field(
        default=True,
        description="Assemble calls.cel.v1 into calls.recorded.v1 here (one replica reads "
        "every partition, the others stand by)",
    )
    cel_settle_s: float = Field(
        default=2.0, ge=0, le=60, description="Wait after a call's last LINKEDID_END"
    )
    cel_lost_end_s: float = Field(
        default=60.0,
        ge=1,
        description="Emit a call whose channels all ended though a LINKEDID_END never came",
    )
    cel_timeout_s: float = Field(
        default=6 * 3600.0, ge=60, description="Emit a call with no CEL event for this long"
    )
    cel_max_held_calls: int = Field(
        default=10_000, ge=10, description="Calls held while assembling; past it the quietest goes"
    )
    cel_max_held_events: int = Field(
        default=50_000,
        ge=1000,
        description="CEL events held while assembling, all calls together (about 90 MB); past it "
        "the quietest call goes",
    )
    threecx_token: str | None = None
    replay_window_s: int = Field(default=300, ge=1, description="Max age of a signed timestamp")
    max_body_bytes: int = Field(default=1_048_576, ge=1024, description="413 above this (1 MiB)")
    max_inflight_bytes: int = Field(
        default=64 * 1024 * 1024,
        ge=1024,
        description="Request body bytes held at once, all requests together; past it: 503 "
        "(retry shortly)",
    )
    docs_enabled: bool = Field(
        default=True, description="Serve Swagger UI at /docs (from local files); off: none"
    )
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
    zadarma_replay_window_s: int = Field(
        default=zadarma.DEFAULT_WINDOW_S,
        ge=60,
        description="How far call_start may be from now, beyond the call's duration",
    )
    zadarma_max_call_s: int = Field(
        default=zadarma.DEFAULT_MAX_CALL_S,
        ge=60,
        description="The longest call whose end notification is accepted",
    )
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
    def _real_secret(cls, value: str | None, info: ValidationInfo) -> str | None:
        name = env_name(str(info.field_name))
        refuse_placeholder(name, value)
        if value is None:
            return None
        if info.field_name == "telnyx_public_key":
            try:
                telnyx.public_keys(value)
            except ValueError as exc:
                raise ValueError(f"{name}: {exc}") from exc
        elif len(value) < SECRET_MIN_LENGTH:
            raise ValueError(
                f"{name} is {len(value)} characters; a provider secret has at least "
                f"{SECRET_MIN_LENGTH} (copy the whole secret the provider issued)"
            )
        return value

    @field_validator("asterisk_ami_url", mode="before")
    @classmethod
    def _ami_url(cls, value: object) -> object:
        value = empty_is_unset(value)
        if isinstance(value, str):
            ami_target(value)
        return value

    @property
    def ami(self) -> AmiTarget | None:
        return ami_target(self.asterisk_ami_url) if self.asterisk_ami_url else None

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _split_proxies(cls, value: object) -> object:
        return split_csv(value)

    @field_validator("public_base_url", mode="before")
    @classmethod
    def _base_url(cls, value: object) -> object:
        value = empty_is_unset(value)
        if not isinstance(value, str):
            return value
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.query:
            raise ValueError(
                "INGEST_CALLS_PUBLIC_BASE_URL must be the scheme, host and optional path "
                f"providers call, e.g. https://calls.example.com (got {value!r})"
            )
        return value.strip().rstrip("/")

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
        return self

    @model_validator(mode="after")
    def _no_development_secret(self) -> Settings:
        for field in SECRETS:
            refuse_development_secret(env_name(field), getattr(self, field), self.common)
        return self

    @model_validator(mode="after")
    def _signed_url_is_known(self) -> Settings:
        """Twilio and Plivo sign the URL they call; without INGEST_CALLS_PUBLIC_BASE_URL or
        trusted proxies it could only be read from the Host header, which the client picks."""
        configured = [env_name(f) for f in URL_SIGNING_SECRETS if getattr(self, f)]
        if configured and not self.public_base_url and not self.trusted_proxies:
            raise ValueError(
                f"{' and '.join(configured)} set, but neither INGEST_CALLS_PUBLIC_BASE_URL (the "
                "URL providers call, e.g. https://calls.example.com) nor "
                "INGEST_CALLS_TRUSTED_PROXIES (the proxies whose X-Forwarded-Host/Proto are "
                "believed): the signed URL would be read from the client's Host header"
            )
        return self

    def trusts(self, address: str | None) -> bool:
        """Is `address` (the connecting peer) one of INGEST_CALLS_TRUSTED_PROXIES?"""
        try:
            peer = ipaddress.ip_address(address or "")
        except ValueError:
            return False
        return any(peer in network for network in self.trusted_proxies)

    def options_for(self, provider: str) -> dict[str, str]:
        """Provider-specific settings: `INGEST_CALLS_<PROVIDER>_<OPTION>` → {option: value}."""
        prefix = f"{provider}_"
        return {
            name.removeprefix(prefix): str(value)
            for name, value in self.model_dump().items()
            if name.startswith(prefix)
            and name not in SECRETS
            and name not in NOT_OPTIONS
            and isinstance(value, str | int)
            and not isinstance(value, bool)
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
