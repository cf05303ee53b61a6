"""Following `crm.settings.v1`: the settings an administrator edits, in every service.

A service builds a `LiveSettings` (its own configuration as the defaults of each group), starts a
`SettingsFollower` and awaits `follower.load()` before it consumes anything: the follower reads
the compacted topic from the beginning to the end offsets it saw at start, applies the latest
record of each group, then keeps following. Code that needs a group asks `live.get(Model)` each
time, so a change applies to the next call, message or request without a restart.

The follower is not part of a consumer group: every instance of every service needs every
group. `load` waits at most `load_timeout_s`; if the broker or the topic is not there by then,
the service starts with what it has (its defaults) and says so in the log, and the follower
applies the records as soon as it can read them. A record that does not decode or validate is
logged and skipped: the group keeps its values in force. An older version never replaces a
newer one (redelivery, a second publisher's late record).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from aiokafka import AIOKafkaConsumer, TopicPartition
from pydantic import ValidationError

from switchboard_shared.background import Background
from switchboard_shared.cloudevents import CloudEventError, decode
from switchboard_shared.events import SettingsChanged
from switchboard_shared.settings.groups import GROUPS, SettingsGroup, parse_group
from switchboard_shared.topics import CRM_SETTINGS

log = logging.getLogger(__name__)

G = TypeVar("G", bound=SettingsGroup)
Listener = Callable[[str], None]


class LiveSettings:
    """The values in force, per group: the latest record seen, else the service's defaults."""

    def __init__(self, *defaults: SettingsGroup) -> None:
        self._values: dict[str, SettingsGroup] = {g: model() for g, model in GROUPS.items()}
        for value in defaults:
            self._values[value.GROUP] = value
        self._versions: dict[str, int] = dict.fromkeys(GROUPS, 0)
        self._listeners: list[Listener] = []

    def get(self, model: type[G]) -> G:
        value = self._values[model.GROUP]
        assert isinstance(value, model)
        return value

    def version(self, group: str) -> int:
        """0 while the group has never been edited (the defaults are in force)."""
        return self._versions.get(group, 0)

    def edited(self, model: type[SettingsGroup]) -> bool:
        return self.version(model.GROUP) > 0

    def on_change(self, listener: Listener) -> None:
        """Call `listener(group)` after every change applied."""
        self._listeners.append(listener)

    def apply(self, group: str, values: SettingsGroup, version: int) -> bool:
        """Put a newer version in force; False when it is not newer (nothing changes)."""
        if group != values.GROUP or version <= self._versions.get(group, 0):
            return False
        self._values[group] = values
        self._versions[group] = version
        for listener in self._listeners:
            try:
                listener(group)
            except Exception:  # one listener's bug must not stop the others or the follower
                log.exception("settings listener failed", extra={"group": group})
        return True

    def apply_event(self, event: SettingsChanged) -> bool:
        """Validate and apply one record; False (logged) when its values are refused."""
        try:
            values = parse_group(event.group, event.values)
        except KeyError:
            log.warning("settings of an unknown group skipped", extra={"group": event.group[:64]})
            return False
        except ValidationError as exc:
            log.error(
                "settings record refused; the values in force stay",
                extra={"group": event.group, "version": event.version, "error": str(exc)[:2000]},
            )
            return False
        applied = self.apply(event.group, values, event.version)
        if applied:
            log.info(
                "settings applied",
                extra={
                    "group": event.group,
                    "version": event.version,
                    "changed_by": event.changed_by,
                },
            )
        return applied


class SettingsFollower(Background):
    task_name = "settings-follower"

    def __init__(
        self,
        bootstrap: str,
        live: LiveSettings,
        *,
        client_id: str,
        load_timeout_s: float = 10.0,
        retry_s: float = 1.0,
    ) -> None:
        self.bootstrap = bootstrap
        self.live = live
        self.client_id = client_id
        self.load_timeout_s = load_timeout_s
        self.retry_s = retry_s
        self.loaded = asyncio.Event()

    async def load(self) -> bool:
        """Start following and wait until the topic was read to its end (at most
        `load_timeout_s`). True when loaded; False: the service goes on with what it has."""
        if self._task is None:
            await self.start()
        try:
            await asyncio.wait_for(self.loaded.wait(), self.load_timeout_s)
        except TimeoutError:
            log.warning(
                "settings topic not read within the time allowed; starting with the settings "
                "at hand (the environment's, until the topic can be read)",
                extra={"topic": CRM_SETTINGS.name, "timeout_s": self.load_timeout_s},
            )
            return False
        return True

    async def ready(self) -> bool:
        return self.loaded.is_set()

    async def _run(self) -> None:
        delay = self.retry_s
        while True:
            consumer = AIOKafkaConsumer(
                bootstrap_servers=self.bootstrap,
                client_id=self.client_id,
                group_id=None,
                enable_auto_commit=False,
                auto_offset_reset="earliest",
            )
            try:
                await consumer.start()
                await self._follow(consumer)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the client raises several unrelated types
                log.warning("settings follower interrupted, retrying", extra={"error": repr(exc)})
            finally:
                with contextlib.suppress(Exception):
                    await consumer.stop()
            await asyncio.sleep(delay)
            delay = min(delay * 2, 15.0)

    async def _follow(self, consumer: AIOKafkaConsumer) -> None:
        partitions = await self._partitions(consumer)
        consumer.assign(partitions)
        positions: dict[TopicPartition, int] = {}
        for tp in partitions:
            await consumer.seek_to_beginning(tp)
        targets: dict[TopicPartition, int] = await consumer.end_offsets(partitions)
        while True:
            if not self.loaded.is_set():
                for tp in partitions:
                    positions[tp] = await consumer.position(tp)
                if all(positions[tp] >= end for tp, end in targets.items()):
                    self.loaded.set()
                    log.info(
                        "settings loaded",
                        extra={
                            "topic": CRM_SETTINGS.name,
                            "versions": {g: self.live.version(g) for g in GROUPS},
                        },
                    )
            batch = await consumer.getmany(timeout_ms=500, max_records=500)
            for records in batch.values():
                for record in records:
                    self.apply_record(record)

    async def _partitions(self, consumer: AIOKafkaConsumer) -> list[TopicPartition]:
        while True:
            await consumer.topics()  # refreshes the metadata
            parts = consumer.partitions_for_topic(CRM_SETTINGS.name)
            if parts:
                return [TopicPartition(CRM_SETTINGS.name, p) for p in sorted(parts)]
            log.warning("settings topic missing, waiting", extra={"topic": CRM_SETTINGS.name})
            await asyncio.sleep(self.retry_s)

    def apply_record(self, record: Any) -> bool:
        if record.value is None:
            return False  # a tombstone: a group is never removed, its last values stay
        try:
            _, data = decode(record.headers or (), record.value)
        except CloudEventError as exc:
            log.warning(
                "settings record skipped",
                extra={"offset": record.offset, "error": str(exc)[:500]},
            )
            return False
        if not isinstance(data, SettingsChanged):
            return False
        return self.live.apply_event(data)
