"""How long a classifier takes to read its knowledge at start: `classifier.knowledge.v1` with
`--keys` numbers (three manager reports each) and as many contact points, on a broker of its own,
read in full by the classifier's `KnowledgeFeed` until it is loaded (what `/readyz` waits for).

    python scripts/measure_knowledge_load.py [--keys 100000]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "scripts"))
from classifier.feed import KnowledgeFeed  # noqa: E402
from classifier.knowledge import WRONG_NUMBER, Knowledge  # noqa: E402
from classifier.rules import default_rules_path, load_rules  # noqa: E402
from harness.kafka import producer, send_records  # noqa: E402
from support.private_broker import private_broker  # noqa: E402
from switchboard_shared.cloudevents import KafkaRecord, encode  # noqa: E402
from switchboard_shared.events import ContactPoint, Reputation, ReputationReport  # noqa: E402
from switchboard_shared.topics import CLASSIFIER_KNOWLEDGE, CRM_CONTACT_POINTS  # noqa: E402

AT = datetime(2026, 3, 2, 9, tzinfo=UTC)


def records(keys: int) -> Iterator[KafkaRecord]:
    for i in range(keys):
        point = f"+1415{2_000_000 + i}"
        reports = [
            ReputationReport(
                id=f"{uuid.uuid4()}:{WRONG_NUMBER}",
                label=WRONG_NUMBER,
                manager=f"m-{n}",
                at=AT - timedelta(days=n),
                overturn=False,
            )
            for n in range(3)
        ]
        value = Reputation(
            point=point, reports=reports, counts={WRONG_NUMBER: 3}, last_seen=reports[0].at
        )
        yield encode(CLASSIFIER_KNOWLEDGE, value, id=str(uuid.uuid4()), source="m", key=point)
        owner = ContactPoint(point=f"+1650{2_000_000 + i}", type="phone", contact_id=f"c{i}")
        yield encode(CRM_CONTACT_POINTS, owner, id=str(uuid.uuid4()), source="m", key=owner.point)


async def measure(keys: int) -> None:
    with tempfile.TemporaryDirectory() as directory:
        async with private_broker(Path(directory)) as bootstrap:
            async with producer(bootstrap) as client:
                await send_records(client, records(keys))
            rules = load_rules(default_rules_path())
            knowledge = Knowledge()
            feed = KnowledgeFeed(bootstrap, knowledge, lambda: rules)
            start = time.perf_counter()
            cpu = time.process_time()
            await feed.start()
            await feed.loaded.wait()
            took, spent = time.perf_counter() - start, time.process_time() - cpu
            await feed.stop()
    print(
        f"knowledge loaded: {knowledge.reports} reports on {keys} numbers, "
        f"{knowledge.points} contact points in {took:.1f} s ({spent:.1f} s CPU)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--keys", type=int, default=100_000)
    asyncio.run(measure(parser.parse_args().keys))


if __name__ == "__main__":
    main()
