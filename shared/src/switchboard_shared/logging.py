"""Structured logging, set up once per process, with personal data masked.

Every record passes through `MaskingFilter`: phone numbers and e-mail addresses in the message are
masked, and `extra=` fields named like personal data (numbers, addresses, names) are masked by
name, so a careless log call cannot leak a client's number into a log pipeline.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

from switchboard_shared.masking import mask_email, mask_name, mask_phone, mask_text

_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}
_PHONE_KEYS = {"phone", "number", "from", "to", "counterpart", "caller", "callee", "e164"}
_EMAIL_KEYS = {"email", "address", "mailbox", "sender", "recipient"}
_NAME_KEYS = {"name", "first_name", "last_name", "display_name", "contact_name"}


def mask_value(key: str, value: Any) -> Any:
    """Mask one `extra` field by its name, or by its content when the name says nothing."""
    if value is None or isinstance(value, bool | int | float):
        return value
    text = str(value)
    lowered = key.lower()
    if lowered in _PHONE_KEYS or lowered.endswith("_phone") or lowered.endswith("_number"):
        return mask_email(text) if "@" in text else mask_phone(text)
    if lowered in _EMAIL_KEYS or lowered.endswith("_email"):
        return mask_email(text)
    if lowered in _NAME_KEYS or lowered.endswith("_name"):
        return mask_name(text)
    return mask_text(text)


class MaskingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = mask_text(record.getMessage())
        record.args = None
        for key, value in list(vars(record).items()):
            if key not in _STANDARD and not key.startswith("_"):
                setattr(record, key, mask_value(key, value))
        return True


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat().replace("+00:00", "Z"),
            "level": record.levelname,
            "service": self.service,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exc"] = mask_text(self.formatException(record.exc_info))
        return json.dumps(entry, default=str, ensure_ascii=False)


class MaskedTextFormatter(logging.Formatter):
    """Human-readable lines; tracebacks masked like everything else."""

    def formatException(self, ei: Any) -> str:
        return mask_text(super().formatException(ei))

    def formatStack(self, stack_info: str) -> str:
        return mask_text(super().formatStack(stack_info))


def configure_logging(service: str, level: str = "INFO", fmt: str = "json") -> None:
    """Route every logger (ours, uvicorn's, FastStream's, aiokafka's) through one masked handler."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(MaskingFilter())
    if fmt == "json":
        handler.setFormatter(JsonFormatter(service))
    else:
        handler.setFormatter(
            MaskedTextFormatter(f"%(asctime)s %(levelname)s {service} %(name)s: %(message)s")
        )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "faststream", "aiokafka"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
    # aiokafka is very chatty while the broker is away; its warnings are enough.
    logging.getLogger("aiokafka").setLevel(max(logging.WARNING, root.level))
