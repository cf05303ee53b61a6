"""ingest-mail settings (`INGEST_MAIL_*`)."""

from __future__ import annotations

from typing import Self

from pydantic import Field, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from ingest_mail.database import DEFAULT_DATABASE_URL
from ingest_mail.domain.limits import MimeLimits
from ingest_mail.parsing import ParseOptions
from switchboard_shared.settings import (
    ServiceSettings,
    empty_is_unset,
    refuse_development_secret,
    refuse_placeholder,
    split_csv,
)


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="INGEST_MAIL_", extra="ignore")

    port: int = 8002
    lmtp_port: int = Field(default=8025, description="0 switches the LMTP listener off")
    max_message_bytes: int = Field(default=25_000_000, ge=1024)
    max_inflight_bytes: int = Field(
        default=32 * 1024 * 1024,
        ge=1024,
        description="Message bytes held at once by the HTTP and LMTP doors together; past it "
        "HTTP answers 503 and LMTP 451 (try again later)",
    )
    http_token: str | None = Field(
        default=None,
        min_length=16,
        description="POST /messages needs `Authorization: Bearer <token>`; required unless "
        "INGEST_MAIL_HTTP_ANONYMOUS=true",
    )
    http_anonymous: bool = Field(
        default=False,
        description="true: serve POST /messages without a token, on purpose (a trusted network)",
    )
    docs_enabled: bool = Field(
        default=True, description="Serve Swagger UI at /docs (from local files); off: none"
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
    database_url: str = Field(
        default=DEFAULT_DATABASE_URL,
        description="Where the IMAP checkpoints and mailbox leases live, shared by every "
        "replica: postgresql+asyncpg://user:password@host:5432/db in production (crm-store's "
        "database will do: the tables are ingest-mail's own, named imap_*); the default SQLite "
        "file serves one host",
    )
    lease_ttl_s: float = Field(
        default=30.0,
        ge=1,
        le=600,
        description="How long a replica's lease on a mailbox lasts without a renewal (renewed "
        "every third of it): a dead replica's mailboxes move to a live one within this time",
    )
    seen_retention_days: float = Field(default=90, gt=0)
    dedupe_window: int = Field(default=10_000, ge=0, description="Recent event ids remembered")
    parse_workers: int = Field(
        default=1,
        ge=1,
        le=64,
        description="Worker processes that parse messages (each may take up to "
        "INGEST_MAIL_PARSE_WORKER_MEMORY_MB while parsing a large message)",
    )
    parse_timeout_s: float = Field(
        default=20.0, gt=0, description="A message whose parse takes longer is kept as rejected"
    )
    parse_worker_memory_mb: int = Field(
        default=384,
        ge=0,
        description="Address-space limit of each parser worker (0: none); a message that needs "
        "more is kept as rejected (`parse_resources`). A 25 MB message needs about 260",
    )
    max_parts: int = Field(default=1_000, ge=1, description="MIME parts per message")
    max_depth: int = Field(default=20, ge=1, description="MIME nesting levels per message")
    max_header_bytes: int = Field(
        default=1_000_000, ge=1024, description="Size of a message's header section"
    )
    max_header_line_bytes: int = Field(
        default=100_000, ge=998, description="Size of one header field, folded lines included"
    )
    max_decoded_bytes: int = Field(
        default=50_000_000, ge=1024, description="Bytes decoded from all parts of one message"
    )
    lmtp_max_recipients: int = Field(
        default=100, ge=1, description="RCPT TO per LMTP transaction; past it: 452 4.5.3"
    )
    imap_max_attempts: int = Field(
        default=3,
        ge=1,
        description="Tries per IMAP message (counted across restarts) before it is kept as "
        "rejected and the mailbox moves on; an unavailable broker does not count",
    )

    _empty_is_unset = field_validator(
        "http_token", "default_mailbox", "mailboxes_file", "mailboxes", mode="before"
    )(empty_is_unset)

    @field_validator("http_token")
    @classmethod
    def _no_placeholder(cls, value: str | None) -> str | None:
        return refuse_placeholder("INGEST_MAIL_HTTP_TOKEN", value)

    @model_validator(mode="after")
    def _intake_is_closed(self) -> Self:
        if self.http_token is None and not self.http_anonymous:
            raise ValueError(
                "INGEST_MAIL_HTTP_TOKEN is not set: POST /messages would take mail from anyone. "
                "Set INGEST_MAIL_HTTP_TOKEN (16+ characters), or INGEST_MAIL_HTTP_ANONYMOUS=true "
                "to serve it without a token on purpose"
            )
        refuse_development_secret("INGEST_MAIL_HTTP_TOKEN", self.http_token, self.common)
        return self

    @model_validator(mode="after")
    def _a_message_fits_in_the_budget(self) -> Self:
        if self.max_inflight_bytes < self.max_message_bytes:
            raise ValueError(
                "INGEST_MAIL_MAX_INFLIGHT_BYTES is below INGEST_MAIL_MAX_MESSAGE_BYTES: the "
                "largest message allowed could never be received"
            )
        return self

    @property
    def limits(self) -> MimeLimits:
        return MimeLimits(
            max_parts=self.max_parts,
            max_depth=self.max_depth,
            max_header_bytes=self.max_header_bytes,
            max_header_line_bytes=self.max_header_line_bytes,
            max_decoded_bytes=self.max_decoded_bytes,
        )

    @property
    def parse_options(self) -> ParseOptions:
        """The parser pool's settings: workers, time and memory per message, the MIME caps."""
        return ParseOptions(
            workers=self.parse_workers,
            timeout_s=self.parse_timeout_s,
            memory_limit_bytes=self.parse_worker_memory_mb * 1024 * 1024 or None,
            limits=self.limits,
        )

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
