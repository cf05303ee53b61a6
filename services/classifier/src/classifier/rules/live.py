"""The rules in force: the rules file (reloaded when it changes) with the administrator's
settings (`crm.settings.v1`: classification thresholds and lists, our numbers) over it."""

from __future__ import annotations

import logging

from switchboard_shared.rules import RuleBook, RuleSet, RulesInvalid
from switchboard_shared.rules.overlay import with_settings
from switchboard_shared.settings.follower import LiveSettings
from switchboard_shared.settings.groups import ClassificationSettings, TelephonySettings

log = logging.getLogger(__name__)


class LiveRules:
    """`current` is the rule set to apply now; it is built again only when the rules file or
    one of the two groups changed."""

    def __init__(self, book: RuleBook, live: LiveSettings) -> None:
        self.book = book
        self.live = live
        self._key: tuple[str, int, int] | None = None
        self._current = book.current

    @property
    def current(self) -> RuleSet:
        base = self.book.current
        versions = (
            self.live.version(ClassificationSettings.GROUP),
            self.live.version(TelephonySettings.GROUP),
        )
        key = (base.version, *versions)
        if key == self._key:
            return self._current
        self._key = key
        try:
            self._current = with_settings(
                base,
                self.live.get(ClassificationSettings) if versions[0] else None,
                self.live.get(TelephonySettings) if versions[1] else None,
                versions=versions,
            )
        except RulesInvalid as exc:
            log.error(
                "settings do not fit the rules file; the file's rules apply",
                extra={"rules": base.version, "error": str(exc)[:2000]},
            )
            self._current = base
        else:
            log.info("rules in force", extra={"rules": self._current.version})
        return self._current
