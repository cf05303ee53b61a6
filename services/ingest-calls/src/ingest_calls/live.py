"""The administrator's telephony settings (`crm.settings.v1`, group `telephony`) laid over the
environment's: the default region replaces `SWITCHBOARD_DEFAULT_REGION`; our numbers and
extension ranges add to `INGEST_CALLS_OWN_NUMBERS` and `INGEST_CALLS_INTERNAL_RANGES`; a
provider's option `provider.option` sets `INGEST_CALLS_<PROVIDER>_<OPTION>` when that is a
provider option (never a secret: secrets stay in the environment).

The webhooks read `app.state.settings` per request, so a change applies to the next webhook.
A combination the service would refuse at start (an unknown time zone, say) is logged and the
settings in force stay.
"""

from __future__ import annotations

import logging
from typing import Any

from pydantic import ValidationError

from ingest_calls.config import NOT_OPTIONS, SECRETS, Settings
from switchboard_shared.settings.groups import TelephonySettings

log = logging.getLogger(__name__)


def _joined(*parts: str) -> str:
    items = [i.strip() for part in parts for i in part.split(",") if i.strip()]
    return ",".join(dict.fromkeys(items))


def with_telephony(base: Settings, telephony: TelephonySettings) -> Settings:
    """`base` (the environment's settings) with the telephony settings over it; raises
    ValueError when the combination is invalid."""
    data: dict[str, Any] = base.model_dump()
    data["common"] = {**data["common"], "default_region": telephony.default_region}
    data["own_numbers"] = _joined(base.own_numbers, ",".join(telephony.own_numbers))
    data["internal_ranges"] = _joined(base.internal_ranges, telephony.range_text())
    ignored = []
    for provider, options in telephony.providers.items():
        for option, value in options.items():
            name = f"{provider}_{option}"
            field = Settings.model_fields.get(name)
            if field is None or name in SECRETS or name in NOT_OPTIONS:
                ignored.append(name)
                continue
            data[name] = value
    if ignored:
        log.warning(
            "telephony options that are not provider options ignored", extra={"options": ignored}
        )
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        raise ValueError(str(exc)) from exc


def follow_telephony(app_state: Any, base: Settings, telephony: TelephonySettings) -> bool:
    """Put the combined settings in force; False (logged) when they are refused."""
    try:
        app_state.settings = with_telephony(base, telephony)
        app_state.contexts = {}  # each provider's context is made again from the new settings
    except ValueError as exc:
        log.error(
            "telephony settings refused; the settings in force stay",
            extra={"error": str(exc)[:2000]},
        )
        return False
    log.info("telephony settings applied", extra={"default_region": telephony.default_region})
    return True
