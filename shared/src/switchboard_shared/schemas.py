"""Pinned contracts: JSON Schema snapshots of every event and the AsyncAPI document.

    python -m switchboard_shared.schemas --write   # regenerate after a deliberate change
    python -m switchboard_shared.schemas --check   # exit 1 when a snapshot is stale

A change to an event model shows up as a diff of these files, which someone must approve.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import yaml
from faststream.kafka import KafkaBroker
from faststream.specification import AsyncAPI

from switchboard_shared import __version__, topics

SCHEMA_DIR = Path(__file__).parent / "schemas"
REPO_ROOT = Path(__file__).resolve().parents[3]
ASYNCAPI_PATH = REPO_ROOT / "docs" / "asyncapi.yaml"

CE_NOTE = (
    "CloudEvents 1.0, Kafka binary binding: headers ce_specversion=1.0, ce_id (deterministic: "
    "the same source event always has the same id, so consumers dedupe on it), ce_source, "
    "ce_type={ce_type}, ce_time (RFC 3339, UTC), content-type=application/json. "
    "The value is the JSON payload below. Producer: {producer}. "
    "Delivered at least once: a record may appear more than once, with the same ce_id; "
    "the idempotency key is the ce_id header."
)
DELIVERY = (
    "Delivery is at least once on every channel. A producer that could not confirm a write "
    "(the broker stalled past its deadline) sends the record again, and a consumer group "
    "re-reads what it had not committed, so the same event can arrive more than once. Every "
    "repeat carries the same `ce_id` header (deterministic: derived from the source event), "
    "which is the idempotency key: handle an event once per `ce_id`. In Python, "
    "`switchboard_shared.dedupe.Dedupe(...).first_time(message)` drops repeats in one line; "
    "where a repeat must never take effect, store the `ce_id` under a unique key with the "
    "effect. Order is kept per key (partition), repeats included."
)


def event_schema(topic: topics.Topic) -> dict[str, Any]:
    schema = topic.model.model_json_schema(by_alias=True, mode="serialization")
    schema["$id"] = f"urn:switchboard:{topic.ce_type}"
    schema["description"] = f"{topic.description} ce_type: {topic.ce_type}."
    return schema


def snapshots() -> dict[Path, str]:
    return {
        SCHEMA_DIR / f"{t.name}.json": json.dumps(event_schema(t), indent=2, sort_keys=True) + "\n"
        for t in topics.ALL
        if t.history_of is None  # a history topic carries its live topic's schema
    }


def asyncapi_yaml() -> str:
    broker = KafkaBroker("kafka:9092", description="Apache Kafka (KRaft) in production")
    for topic in topics.ALL:
        broker.publisher(
            topic.name,
            title=topic.name,
            description=CE_NOTE.format(ce_type=topic.ce_type, producer=topic.producer)
            + " "
            + topic.description,
            schema=topic.model,
        )
    spec = AsyncAPI(
        broker,
        title="Switchboard events",
        version=__version__,
        description="Every topic Switchboard publishes. Dead-letter topics `<topic>.dlq` carry "
        "the original record with dlq_error, dlq_original_topic, dlq_partition, dlq_offset and "
        "dlq_attempts headers.\n\n" + DELIVERY,
        schema_version="3.0.0",
    )
    # FastStream orders channels by set iteration; sort so the committed file is stable.
    document = spec.to_specification().to_jsonable()
    return str(yaml.safe_dump(document, sort_keys=True, allow_unicode=True, width=100))


def generated() -> dict[Path, str]:
    out = snapshots()
    out[ASYNCAPI_PATH] = asyncapi_yaml()
    return out


def stale() -> list[Path]:
    return [p for p, text in generated().items() if not p.exists() or p.read_text() != text]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m switchboard_shared.schemas")
    parser.add_argument("--write", action="store_true", help="rewrite the snapshots")
    parser.add_argument("--check", action="store_true", help="fail on a stale snapshot (default)")
    args = parser.parse_args(argv)
    if args.write:
        for path, text in generated().items():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        return 0
    outdated = stale()
    for path in outdated:
        sys.stderr.write(f"stale contract snapshot: {path} (run `make schemas`)\n")
    return 1 if outdated else 0


if __name__ == "__main__":
    sys.exit(main())
