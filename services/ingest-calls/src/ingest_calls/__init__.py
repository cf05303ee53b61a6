"""ingest-calls: call records from PBX and telephony providers, published to Kafka."""

__version__ = "0.1.0"
