"""ingest-mail's pure core: raw RFC 822 bytes → `mail.received.v1` data. No I/O."""

from ingest_mail.domain.direction import MailboxIdentity
from ingest_mail.domain.headers import message_key
from ingest_mail.domain.parse import UnparseableMessage, parse_message

__all__ = ["MailboxIdentity", "UnparseableMessage", "message_key", "parse_message"]
