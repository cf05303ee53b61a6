"""The mailboxes ingest-mail reads over IMAP, and how they are configured.

Set either `INGEST_MAIL_MAILBOXES_FILE` (a YAML file) or `INGEST_MAIL_MAILBOXES` (the same
document as JSON). The document is a list of mailboxes, or a mapping with a `mailboxes` list:

```yaml
mailboxes:
  - name: sales                  # label in metrics, logs and checkpoints; keep it stable
    host: imap.example.com
    security: tls                # tls (port 993) | starttls (port 143) | none (port 143)
    username: sales@example.com
    password_env: SALES_IMAP_PASSWORD   # read from the environment: the file holds no secret
    folders: [INBOX, Sent]       # the default; a folder the server lacks is logged and skipped
    sent_folders: []             # folders among `folders` that hold what the mailbox sent, when
                                 # the server does not flag them \\Sent and they are not "Sent"
  - name: support
    host: outlook.office365.com
    port: 993
    username: support@example.com
    oauth2_token_env: SUPPORT_IMAP_TOKEN  # XOAUTH2 access token instead of a password
    address: help@example.com    # the mailbox's own address (default: username)
    poll_interval_s: 60          # default 30; how often folders are polled without IDLE
    idle: false                  # default true: IDLE where the server offers it
  - name: office
    host: mail.office.internal
    security: starttls
    ca_file: /etc/switchboard/office-ca.pem  # trust this CA (PEM) instead of the system's
    username: office@example.com
    password_env: OFFICE_IMAP_PASSWORD
```

With `tls` and `starttls` the server's certificate must chain to a trusted CA and name the
host; otherwise the connection is refused before any credential is sent. `ca_file` names a
PEM file of the CAs to trust for that mailbox (a private CA or a self-signed certificate); they
replace the system's CAs for it. It needs `tls` or `starttls`.

Each mailbox needs exactly one credential: `password`, `password_env`, `oauth2_token` or
`oauth2_token_env`. Renaming a mailbox (`name`) starts its synchronisation over, because the
checkpoints and the lease are kept under the name; every replica must have the same list.

`GET /mailboxes` answers a JSON list, one object per configured mailbox, in configuration
order (no secrets): `mailbox` (its name), `polling` (this replica holds the mailbox's lease and
polls it; another replica does when false), `connected` (the IMAP session is logged in),
`last_success` (ISO 8601 time the last round over its folders ended, or null), `lag` (messages
found on the server and not yet checkpointed), `last_error` (the last connection error, null
again after the next successful round) and `missing_folders` (configured folders the server
does not have).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    FilePath,
    SecretStr,
    ValidationError,
    model_validator,
)

__all__ = ["MailboxConfig", "MailboxConfigError", "load_mailboxes"]

Security = Literal["tls", "starttls", "none"]
DEFAULT_PORTS: dict[str, int] = {"tls": 993, "starttls": 143, "none": 143}
_CREDENTIALS = ("password", "password_env", "oauth2_token", "oauth2_token_env")


class MailboxConfigError(ValueError):
    """The mailbox configuration is unusable; the message says where and why (never a secret)."""


class MailboxConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
    host: str = Field(min_length=1)
    port: int = Field(ge=1, le=65535)
    security: Security = "tls"
    ca_file: FilePath | None = None
    username: str = Field(min_length=1)
    password: SecretStr | None = None
    password_env: str | None = None
    oauth2_token: SecretStr | None = None
    oauth2_token_env: str | None = None
    folders: tuple[str, ...] = Field(default=("INBOX", "Sent"), min_length=1)
    sent_folders: tuple[str, ...] = ()
    address: str = Field(min_length=1)
    poll_interval_s: float = Field(default=30.0, gt=0)
    idle: bool = True
    idle_timeout_s: float = Field(
        default=300.0, gt=0, le=1740, description="Re-issue IDLE at least this often (< 29 min)"
    )

    @model_validator(mode="before")
    @classmethod
    def _fill_defaults(cls, data: Any) -> Any:
        """Port from security, address from username, secrets from the environment."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        given = [key for key in _CREDENTIALS if data.get(key) not in (None, "")]
        if len(given) != 1:
            raise ValueError(
                f"give exactly one of {', '.join(_CREDENTIALS)} (got {', '.join(given) or 'none'})"
            )
        for secret in ("password", "oauth2_token"):
            variable = data.get(f"{secret}_env")
            if variable:
                value = os.environ.get(str(variable))
                if not value:
                    raise ValueError(f"environment variable {variable} ({secret}_env) is not set")
                data[secret] = value
        if data.get("port") in (None, ""):
            data["port"] = DEFAULT_PORTS.get(str(data.get("security", "tls")), 993)
        if data.get("address") in (None, ""):
            data["address"] = data.get("username")
        if isinstance(data.get("folders"), list):
            data["folders"] = tuple(dict.fromkeys(data["folders"]))
        return data

    @model_validator(mode="after")
    def _sent_folders_are_read(self) -> MailboxConfig:
        unread = [f for f in self.sent_folders if f not in self.folders]
        if unread:
            raise ValueError(f"sent_folders must also be in folders: {', '.join(unread)}")
        if self.ca_file is not None and self.security == "none":
            raise ValueError("ca_file needs security: tls or starttls")
        return self


def _parse_document(text: str, source: str, *, as_yaml: bool) -> list[Any]:
    try:
        document = yaml.safe_load(text) if as_yaml else json.loads(text)
    except json.JSONDecodeError as exc:
        raise MailboxConfigError(f"{source}: not valid JSON: {exc}") from None
    except yaml.YAMLError as exc:
        # Only the position: PyYAML's own text quotes the offending line, which may hold a secret.
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "syntax error"
        raise MailboxConfigError(f"{source}: not valid YAML{where}: {problem}") from None
    if document is None:
        return []
    if isinstance(document, dict) and set(document) == {"mailboxes"}:
        document = document["mailboxes"] or []
    if not isinstance(document, list):
        raise MailboxConfigError(f"{source}: expected a list of mailboxes or {{mailboxes: [...]}}")
    return document


def _describe(error: ValidationError, source: str, index: int) -> str:
    # Built from locations and messages only: pydantic's own text would echo the input (secrets).
    lines = []
    for item in error.errors(include_input=False, include_url=False):
        where = "".join(f".{part}" for part in item["loc"])
        lines.append(f"{source}: mailboxes[{index}]{where}: {item['msg']}")
    return "\n".join(lines)


def load_mailboxes(file: str | None, json_text: str | None) -> list[MailboxConfig]:
    """The configured mailboxes; none when neither source is set.

    Raises `MailboxConfigError` naming the source, the mailbox index and the field.
    """
    if file and json_text and json_text.strip():
        raise MailboxConfigError(
            "set INGEST_MAIL_MAILBOXES_FILE or INGEST_MAIL_MAILBOXES, not both"
        )
    if file:
        path = Path(file)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise MailboxConfigError(f"{path}: cannot read mailbox file: {exc.strerror}") from exc
        entries = _parse_document(text, str(path), as_yaml=True)
        source = str(path)
    elif json_text and json_text.strip():
        source = "INGEST_MAIL_MAILBOXES"
        entries = _parse_document(json_text, source, as_yaml=False)
    else:
        return []
    mailboxes: list[MailboxConfig] = []
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise MailboxConfigError(f"{source}: mailboxes[{index}] is not a mapping")
        try:
            mailboxes.append(MailboxConfig.model_validate(entry))
        except ValidationError as exc:
            raise MailboxConfigError(_describe(exc, source, index)) from None
    names = [m.name for m in mailboxes]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise MailboxConfigError(f"{source}: mailbox names must be unique: {', '.join(duplicates)}")
    return mailboxes
