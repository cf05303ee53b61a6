"""Settings: one env prefix per service, plus `SWITCHBOARD_` for what every service shares."""

from __future__ import annotations

from typing import Annotated

import phonenumbers
from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

PLACEHOLDER_SECRETS = frozenset({"changeme", "change-me", "secret", "password", "xxx", "todo"})

# The secrets `make run` fills in. They are printed on the terminal and written in the README,
# so a service refuses them unless SWITCHBOARD_ENVIRONMENT=development (which `make run` sets).
DEVELOPMENT_SECRETS = {
    "INGEST_CALLS_GENERIC_HMAC_SECRET": "dev-generic-secret-change-me-in-prod",
    "CRM_STORE_BOOTSTRAP_ADMIN_TOKEN": "dev-admin-token-0123456789abcdef",
    "INGEST_MAIL_HTTP_TOKEN": "dev-mail-token-0123456789abcdef",
}


# Which consumer groups read the topics the services publish (their default group names).
DEFAULT_DOWNSTREAM_GROUPS: dict[str, list[str]] = {
    "calls.recorded.v1": ["classifier"],
    "mail.received.v1": ["classifier-mail"],
    "interactions.classified.v1": ["crm-store"],
    "interactions.classified.history.v1": ["crm-store-history"],
}


def split_csv(value: object) -> object:
    """Accept `a,b , c` from the environment as well as a list."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class CommonSettings(BaseSettings):
    """`SWITCHBOARD_*`: shared by all services."""

    model_config = SettingsConfigDict(env_prefix="SWITCHBOARD_", extra="ignore")

    kafka_bootstrap: str = "127.0.0.1:9092"
    default_region: str = Field(default="US", min_length=2, max_length=2)
    own_domains: Annotated[list[str], NoDecode] = Field(default_factory=list)
    topic_partitions: int = Field(default=3, ge=1)
    topic_replication: int = Field(default=1, ge=1)
    kafka_enable_idempotence: bool = Field(
        default=False, description="On with Apache Kafka; the development broker lacks it"
    )
    publish_timeout_s: float = Field(
        default=10.0,
        gt=0,
        description="How long a background publisher (crm-store's outbox relay, the classifier) "
        "waits for the broker's acknowledgement",
    )
    intake_publish_timeout_s: float = Field(
        default=2.0,
        gt=0,
        description="How long an intake (webhook, LMTP, mail HTTP) waits for the broker's "
        "acknowledgement before answering 503/451: the sender retries",
    )
    broker_probe_interval_s: float = Field(
        default=0.5, gt=0, description="How often the broker is probed in the background"
    )
    broker_probe_timeout_s: float = Field(
        default=1.5,
        gt=0,
        description="A probe not answered within this is tried again at once; two in a row "
        "mark the broker down",
    )
    downstream_groups: Annotated[dict[str, list[str]], NoDecode] = Field(
        default_factory=lambda: dict(DEFAULT_DOWNSTREAM_GROUPS),
        description="topic=group pairs: the consumer groups whose lag on a topic a publisher "
        "of that topic reports as <prefix>_downstream_lag",
    )
    consumer_lag_interval_s: float = Field(
        default=15.0, gt=0, description="How often consumer lag is read from the broker"
    )
    environment: str = Field(
        default="production",
        pattern="^(production|development)$",
        description="`development` (set by `make run`) admits the printed development secrets",
    )
    request_head_timeout_s: float = Field(
        default=10.0, gt=0, description="A request head must be complete within this"
    )
    request_body_grace_s: float = Field(
        default=10.0, gt=0, description="Time a request body may take before its pace counts"
    )
    request_body_min_rate: int = Field(
        default=16_384,
        ge=1,
        description="Bytes a second a request body must average after the grace (else 408)",
    )
    settings_load_timeout_s: float = Field(
        default=10.0,
        gt=0,
        description="How long a service waits at start to read the administrator's settings "
        "(crm.settings.v1) before it goes on with the environment's",
    )
    log_level: str = "INFO"
    log_format: str = Field(default="json", pattern="^(json|text)$")

    @field_validator("own_domains", mode="before")
    @classmethod
    def _split_domains(cls, value: object) -> object:
        return split_csv(value)

    @field_validator("downstream_groups", mode="before")
    @classmethod
    def _parse_groups(cls, value: object) -> object:
        """`topic=group,topic=group2` from the environment; a topic may repeat."""
        if not isinstance(value, str):
            return value
        groups: dict[str, list[str]] = {}
        for item in filter(None, (part.strip() for part in value.split(","))):
            topic, sep, group = item.partition("=")
            if not sep or not topic.strip() or not group.strip():
                raise ValueError(
                    f"SWITCHBOARD_DOWNSTREAM_GROUPS: expected topic=group, got {item!r}"
                )
            groups.setdefault(topic.strip(), []).append(group.strip())
        return groups

    @field_validator("default_region")
    @classmethod
    def _known_region(cls, value: str) -> str:
        region = value.upper()
        if region not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError(f"unknown ISO region {value!r} (e.g. US, DE, GB)")
        return region

    @field_validator("own_domains")
    @classmethod
    def _lower_domains(cls, value: list[str]) -> list[str]:
        return [d.lower().lstrip("@") for d in value]


class ServiceSettings(BaseSettings):
    """Base of each service's settings; subclasses set their own `env_prefix`."""

    model_config = SettingsConfigDict(extra="ignore")

    host: str = "127.0.0.1"
    port: int
    common: CommonSettings = Field(default_factory=CommonSettings)


def empty_is_unset(value: object) -> object:
    """An empty variable (as compose passes an unset `${VAR:-}`) means 'not configured'."""
    if isinstance(value, str) and not value.strip():
        return None
    return value


def refuse_placeholder(name: str, value: str | None) -> str | None:
    """Reject secrets that are obviously placeholders."""
    if value is not None and value.strip().lower() in PLACEHOLDER_SECRETS:
        raise ValueError(f"{name} is a placeholder; set a real secret or leave it unset")
    return value


def refuse_development_secret(name: str, value: str | None, common: CommonSettings) -> None:
    """Outside `make run`, refuse a secret that `make run` prints for everyone to see."""
    if (
        value is not None
        and common.environment != "development"
        and value == DEVELOPMENT_SECRETS.get(name)
    ):
        raise ValueError(
            f"{name} is the development value printed by `make run`; set a secret of your own "
            "(or SWITCHBOARD_ENVIRONMENT=development on a development machine)"
        )
