"""The Bus's probe: one late answer is not an outage (a busy process reads its socket late);
two unanswered probes in a row, the second sent at once, are. The broker's answers are scripted
here: what is under test is the probe's rule, not the broker."""

from __future__ import annotations

from collections.abc import Iterator

from switchboard_shared.kafka import Bus
from switchboard_shared.metrics import ServiceMetrics
from switchboard_shared.settings import CommonSettings

METRICS = ServiceMetrics.create("probe_test", "0")


def bus_answering(answers: list[bool]) -> tuple[Bus, list[float | None]]:
    bus = Bus(CommonSettings(), client_id="probe-test", metrics=METRICS)
    bus._connected.set()  # as once connected
    asked: list[float | None] = []
    script: Iterator[bool] = iter(answers)

    async def ping(timeout: float | None = None) -> bool:
        asked.append(timeout)
        return next(script)

    bus.broker.ping = ping  # type: ignore[method-assign]
    return bus, asked


def broker_up() -> float:
    return float(METRICS.broker_up._value.get())


async def test_one_unanswered_probe_is_asked_again_and_a_good_answer_keeps_it_up() -> None:
    bus, asked = bus_answering([False, True])
    assert await bus.probe()
    assert len(asked) == 2
    assert bus.breaker.closed
    assert broker_up() == 1


async def test_two_unanswered_probes_in_a_row_are_an_outage() -> None:
    bus, asked = bus_answering([False, False, True, True])
    assert not await bus.probe()
    assert len(asked) == 2
    assert not bus.breaker.closed
    assert broker_up() == 0
    assert await bus.probe()  # the broker answers again: publishing resumes
    assert bus.breaker.closed
    assert broker_up() == 1


async def test_a_probe_that_raises_counts_as_unanswered() -> None:
    bus, _ = bus_answering([])

    async def broken(timeout: float | None = None) -> bool:
        raise ConnectionResetError("the broker went away")

    bus.broker.ping = broken  # type: ignore[method-assign]
    assert not await bus.probe()
    assert not bus.breaker.closed
    assert broker_up() == 0
