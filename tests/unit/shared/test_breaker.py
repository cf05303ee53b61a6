"""The publish breaker: closed, open (refuse at once), half-open (one trial)."""

from __future__ import annotations

from switchboard_shared.breaker import Breaker, State


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def breaker(clock: Clock, seen: list[State] | None = None) -> Breaker:
    return Breaker(trial_after_s=5.0, clock=clock, on_change=None if seen is None else seen.append)


def test_closed_lets_every_publish_through() -> None:
    b = breaker(Clock())
    assert b.closed
    assert all(b.allow() for _ in range(3))


def test_a_failure_opens_it_and_publishes_are_refused_at_once() -> None:
    clock = Clock()
    seen: list[State] = []
    b = breaker(clock, seen)
    b.failed()
    assert b.state is State.OPEN
    clock.now += 4.9
    assert not b.allow()
    assert seen == [State.OPEN]


def test_after_the_trial_delay_exactly_one_publish_is_tried() -> None:
    clock = Clock()
    b = breaker(clock)
    b.failed()
    clock.now += 5.0
    assert b.allow()  # the trial
    assert b.state is State.HALF_OPEN
    assert not b.allow()  # the others wait for its outcome
    assert not b.allow()


def test_a_successful_trial_closes_it() -> None:
    clock = Clock()
    b = breaker(clock)
    b.failed()
    clock.now += 5.0
    assert b.allow()
    b.succeeded()
    assert b.closed
    assert b.allow()


def test_a_failed_trial_opens_it_again_for_a_full_delay() -> None:
    clock = Clock()
    b = breaker(clock)
    b.failed()
    clock.now += 5.0
    assert b.allow()
    b.failed()
    assert b.state is State.OPEN
    clock.now += 4.0
    assert not b.allow()
    clock.now += 1.0
    assert b.allow()


def test_the_probe_closes_it_without_any_publish() -> None:
    clock = Clock()
    b = breaker(clock)
    b.probe_failed()
    assert not b.allow()
    b.succeeded()  # the probe was answered
    assert b.closed
    assert b.allow()


def test_a_failing_probe_does_not_postpone_the_trial_forever() -> None:
    clock = Clock()
    b = breaker(clock)
    b.probe_failed()
    for _ in range(5):  # the probe keeps failing every second
        clock.now += 1.0
        b.probe_failed()
    assert b.allow(), "a publish is tried even while the probe keeps failing"


def test_an_inconclusive_trial_hands_the_trial_to_the_next_publish() -> None:
    clock = Clock()
    b = breaker(clock)
    b.failed()
    clock.now += 5.0
    assert b.allow()
    b.inconclusive()  # e.g. the record was too large to send
    assert b.state is State.OPEN
    assert b.allow()
    b.inconclusive()
    b.inconclusive()  # no effect outside half-open
    assert b.state is State.OPEN


def test_changes_are_reported_once_each() -> None:
    clock = Clock()
    seen: list[State] = []
    b = breaker(clock, seen)
    b.failed()
    b.failed()
    b.probe_failed()
    clock.now += 5.0
    b.allow()
    b.succeeded()
    b.succeeded()
    assert seen == [State.OPEN, State.HALF_OPEN, State.CLOSED]
