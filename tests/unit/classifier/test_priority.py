"""History waits for live work (`LiveFirst`), and verdicts on history go to the history topic."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

from classifier.publisher import topic_of
from switchboard_shared.events import (
    CallDirection,
    CallRecorded,
    CallStatus,
    Disposition,
    InteractionClassified,
    InteractionKind,
)
from switchboard_shared.phone import normalise_phone
from switchboard_shared.priority import LiveFirst
from switchboard_shared.topics import INTERACTIONS_CLASSIFIED, INTERACTIONS_CLASSIFIED_HISTORY

AT = datetime(2025, 6, 1, 9, 0, tzinfo=UTC)


async def test_history_waits_while_a_live_message_is_handled_and_a_moment_after() -> None:
    first = LiveFirst(quiet_s=0.05, max_wait_s=5.0)
    order: list[str] = []

    async def live() -> None:
        with first.live():
            await asyncio.sleep(0.1)
            order.append("live")

    async def past() -> None:
        await asyncio.sleep(0.01)  # arrives while the live message is in hand
        await first.turn()
        order.append("past")

    started = time.monotonic()
    await asyncio.gather(live(), past())
    assert order == ["live", "past"]
    assert time.monotonic() - started >= 0.15  # the handling, then the quiet time


async def test_history_is_not_starved_by_endless_live_work() -> None:
    first = LiveFirst(quiet_s=0.05, max_wait_s=0.2)
    with first.live():
        started = time.monotonic()
        await first.turn()
        assert 0.2 <= time.monotonic() - started < 1.0


async def test_history_goes_at_once_when_live_is_idle() -> None:
    first = LiveFirst(quiet_s=0.05)
    started = time.monotonic()
    await first.turn()
    assert time.monotonic() - started < 0.05


def verdict(historical: bool) -> InteractionClassified:
    call = CallRecorded(
        call_id="asterisk:1.1",
        provider="asterisk",
        direction=CallDirection.INBOUND,
        status=CallStatus.NO_ANSWER,
        started_at=AT,
        from_=normalise_phone("+4930123456"),
        to=normalise_phone("101"),
        historical=historical,
    )
    return InteractionClassified(
        interaction_id="i-1",
        kind=InteractionKind.CALL,
        occurred_at=AT,
        call=call,
        disposition=Disposition.CALLBACK,
        classifier_version="test",
    )


def test_a_verdict_on_history_goes_to_the_history_topic() -> None:
    assert topic_of(verdict(historical=True)) is INTERACTIONS_CLASSIFIED_HISTORY
    assert topic_of(verdict(historical=False)) is INTERACTIONS_CLASSIFIED
