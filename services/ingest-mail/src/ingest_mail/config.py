"""ingest-mail settings (`INGEST_MAIL_*`)."""

from __future__ import annotations

from pydantic import Field, field_validator
from pydantic_settings import SettingsConfigDict

from switchboard_shared.settings import (
    ServiceSettings,
    empty_is_unset,
    refuse_placeholder,
    split_csv,
)


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="INGEST_MAIL_", extra="ignore")

    port: int = 8002
    lmtp_port: int = Field(default=8025, description="0 switches the LMTP listener off")
    max_message_bytes: int = Field(default=25_000_000, ge=1024)
    http_token: str | None = Field(
        default=None,
        min_length=16,
        description="When set, POST /messages needs `Authorization: Bearer <token>`",
    )
    default_mailbox: str | None = Field(
        default=None, description="Mailbox for POST /messages without ?mailbox="
    )
    own_addresses: str = Field(
        default="", description="Our addresses outside SWITCHBOARD_OWN_DOMAINS, comma separated"
    )
    trusted_authserv_ids: str = Field(
        default="",
        description="authserv-ids (comma separated) of the relays whose Authentication-Results "
        "header is believed: DKIM or DMARC passing there for one of our domains makes a message "
        "ours. Empty: only the Sent folder does",
    )
    mailboxes_file: str | None = Field(default=None, description="YAML list of IMAP mailboxes")
    mailboxes: str | None = Field(default=None, description="IMAP mailboxes as JSON")
    checkpoint_db: str = "var/ingest-mail.db"
    seen_retention_days: float = Field(default=90, gt=0)
    dedupe_window: int = Field(default=10_000, ge=0, description="Recent event ids remembered")

    _empty_is_unset = field_validator(
        "http_token", "default_mailbox", "mailboxes_file", "mailboxes", mode="before"
    )(empty_is_unset)

    @field_validator("http_token")
    @classmethod
    def _no_placeholder(cls, value: str | None) -> str | None:
        return refuse_placeholder("INGEST_MAIL_HTTP_TOKEN", value)

    @property
    def own_address_set(self) -> frozenset[str]:
        parts = split_csv(self.own_addresses)
        assert isinstance(parts, list)
        return frozenset(str(a).lower() for a in parts)

    @property
    def trusted_authserv_id_set(self) -> frozenset[str]:
        parts = split_csv(self.trusted_authserv_ids)
        assert isinstance(parts, list)
        return frozenset(str(a).lower() for a in parts)
