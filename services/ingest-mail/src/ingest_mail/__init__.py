"""ingest-mail: messages from mailboxes (IMAP, LMTP, HTTP), published to Kafka."""

__version__ = "0.1.0"
