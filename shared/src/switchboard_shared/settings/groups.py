"""The groups of settings an administrator edits on crm-store's page, as every service validates
them. crm-store stores each group (values, version, who changed it) and publishes it on the
compacted topic `crm.settings.v1` (key: the group); the services follow the topic
(`switchboard_shared.settings.follower`).

A group's defaults are what the services did before anyone edited it (the rules file and the
environment): a service that finds no record of a group keeps its own configuration.

Every field is bounded (list lengths, item lengths, numbers), so a record on the topic can
never make a follower allocate without limit, and every model forbids unknown keys.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, ClassVar

import phonenumbers
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
)

from switchboard_shared.phone import NumberKind, PhonePolicy, normalise_phone

MAX_ITEMS = 500
REGION_CONTEXT = "default_region"
"""Validation context key: the region national numbers are read in (else `+` numbers only)."""

Item = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Id = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
_PREFIX_RE = re.compile(r"^\+[0-9]{1,14}$")
_DOMAIN_RE = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
_RANGE_RE = re.compile(r"^([0-9]{1,8})(?:-([0-9]{1,8}))?$")
_SENDER_RE = re.compile(r"^(@[^@\s]+|[^@\s]+@[^@\s]+)$")


class SettingsGroup(BaseModel):
    """Base of every group: frozen, unknown keys refused."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    GROUP: ClassVar[str]
    TITLE: ClassVar[str]


def phone_list(values: list[str], info: ValidationInfo) -> list[str]:
    """Numbers in any format, normalised to E.164 (national ones in the context's region)."""
    region = (info.context or {}).get(REGION_CONTEXT) or "US"
    policy = PhonePolicy(default_region=region, internal_max_digits=0)
    out: list[str] = []
    for value in values:
        number = normalise_phone(value, policy)
        if number.kind is not NumberKind.EXTERNAL or number.e164 is None:
            raise ValueError(f"{value!r} is not a phone number")
        if number.e164 not in out:
            out.append(number.e164)
    return out


class ClassificationSettings(SettingsGroup):
    """The thresholds and lists the classification rules use; the rules themselves stay in the
    rules file. Lists add to the rules file's lists; thresholds replace its values."""

    GROUP: ClassVar[str] = "classification"
    TITLE: ClassVar[str] = "Classification"

    very_short_call_s: float = Field(
        default=10,
        ge=0,
        le=600,
        title="Short call (seconds)",
        description="An answered call with at most this much talk is very short: a wrong number "
        "from a stranger, a routine call with a known contact",
    )
    wrong_number_reports: int = Field(
        default=1,
        ge=1,
        le=100,
        title="Wrong-number reports",
        description="Managers who must mark a number as a wrong number before its calls close "
        "by themselves",
    )
    spam_reports: int = Field(
        default=2,
        ge=1,
        le=100,
        title="Spam reports",
        description="Managers who must mark a number as spam before its calls close by themselves",
    )
    wrong_numbers: list[Item] = Field(
        default_factory=list,
        max_length=MAX_ITEMS,
        title="Known wrong numbers",
        description="Calls from these numbers are wrong numbers: closed, nobody asked",
    )
    service_numbers: list[Item] = Field(
        default_factory=list,
        max_length=MAX_ITEMS,
        title="Service numbers",
        description="Banks, couriers, suppliers' robots: their calls are routine and ask nobody",
    )
    spam_numbers: list[Item] = Field(
        default_factory=list,
        max_length=MAX_ITEMS,
        title="Spam numbers",
        description="Numbers that only ever bring spam",
    )
    spam_prefixes: list[Item] = Field(
        default_factory=list,
        max_length=MAX_ITEMS,
        title="Spam prefixes",
        description="Number ranges such as +1900 (premium lines), as + and digits",
    )
    internal_domains: list[Item] = Field(
        default_factory=list,
        max_length=MAX_ITEMS,
        title="Internal domains",
        description="Our own e-mail domains: mail between them is internal, their addresses "
        "are never a client's company",
    )
    allow_senders: list[Item] = Field(
        default_factory=list,
        max_length=MAX_ITEMS,
        title="Senders who always get a reply",
        description="Addresses or @domains whose mail always asks for a reply, whatever its "
        "headers say",
    )

    _phones = field_validator("wrong_numbers", "service_numbers", "spam_numbers")(phone_list)

    @field_validator("spam_prefixes")
    @classmethod
    def _prefixes(cls, values: list[str]) -> list[str]:
        for value in values:
            if not _PREFIX_RE.match(value):
                raise ValueError(f"{value!r} is not + and digits (e.g. +1900)")
        return values

    @field_validator("internal_domains")
    @classmethod
    def _domains(cls, values: list[str]) -> list[str]:
        out = []
        for value in values:
            domain = value.lower().lstrip("@").rstrip(".")
            if not _DOMAIN_RE.match(domain):
                raise ValueError(f"{value!r} is not a domain (e.g. example.com)")
            out.append(domain)
        return out

    @field_validator("allow_senders")
    @classmethod
    def _senders(cls, values: list[str]) -> list[str]:
        for value in values:
            if not _SENDER_RE.match(value):
                raise ValueError(f"{value!r} is not an address or an @domain")
        return [v.lower() for v in values]


class OutcomeSettings(SettingsGroup):
    """When an answered conversation asks its manager to pick an outcome (`log_outcome`).

    An outcome is asked for when asking is on and at least one of the conditions holds.
    """

    GROUP: ClassVar[str] = "outcomes"
    TITLE: ClassVar[str] = "Outcomes"

    ask: bool = Field(
        default=True,
        title="Ask for outcomes",
        description="Off: no conversation asks for an outcome",
    )
    first_conversation: bool = Field(
        default=True,
        title="First conversation",
        description="The first conversation with a number or address",
    )
    unknown_counterpart: bool = Field(
        default=True,
        title="New clients",
        description="A conversation with a number or address no contact or company has yet",
    )
    min_talk_min: float = Field(
        default=2.0,
        ge=0,
        le=600,
        title="Long conversations (minutes)",
        description="A call at least this long; 0: calls ask by their length never",
    )
    owners: list[Id] = Field(
        default_factory=list,
        max_length=MAX_ITEMS,
        title="Clients of these managers",
        description="Every conversation with a client these managers own (their e-mail addresses)",
    )
    mail: bool = Field(
        default=True,
        title="Messages",
        description="Messages the rules leave to a person (no reply needed, but not a robot)",
    )


class TelephonySettings(SettingsGroup):
    """Our numbers and extensions, the region national numbers are read in, and what each
    provider needs that is not a secret (the secrets stay in the environment)."""

    GROUP: ClassVar[str] = "telephony"
    TITLE: ClassVar[str] = "Telephony"

    default_region: str = Field(
        default="US",
        min_length=2,
        max_length=2,
        title="Default region",
        description="The country national numbers are read in (ISO code, e.g. US, DE, PL)",
    )
    own_numbers: list[Item] = Field(
        default_factory=list,
        max_length=MAX_ITEMS,
        title="Our numbers",
        description="Our DIDs and colleagues' phones, any format: calls with them are ours",
    )
    extension_ranges: list[Item] = Field(
        default_factory=list,
        max_length=100,
        title="Extension ranges",
        description="Our extensions, as ranges such as 100-199 or single numbers",
    )
    providers: dict[
        Annotated[str, StringConstraints(pattern=r"^[a-z0-9_-]{1,32}$")],
        dict[Annotated[str, StringConstraints(pattern=r"^[a-z0-9_]{1,40}$")], Item],
    ] = Field(
        default_factory=dict,
        max_length=20,
        title="Provider options",
        description="Per provider, options that are not secrets (e.g. asterisk: timezone)",
    )

    _phones = field_validator("own_numbers")(phone_list)

    @field_validator("default_region")
    @classmethod
    def _region(cls, value: str) -> str:
        region = value.upper()
        if region not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError(f"{value!r} is not a country code (e.g. US, DE, PL)")
        return region

    @field_validator("extension_ranges")
    @classmethod
    def _ranges(cls, values: list[str]) -> list[str]:
        out = []
        for value in values:
            match = _RANGE_RE.match(value.replace(" ", ""))
            if match is None:
                raise ValueError(f"{value!r} is not an extension or a range such as 100-199")
            low, high = match.group(1), match.group(2) or match.group(1)
            if int(low) > int(high):
                raise ValueError(f"{value!r}: the range ends before it starts")
            out.append(low if low == high else f"{low}-{high}")
        return out

    def range_text(self) -> str:
        """The ranges as `PhonePolicy.from_strings` reads them."""
        return ",".join(self.extension_ranges)


GROUPS: dict[str, type[SettingsGroup]] = {
    g.GROUP: g for g in (ClassificationSettings, OutcomeSettings, TelephonySettings)
}


def parse_group(group: str, values: Any, *, default_region: str | None = None) -> SettingsGroup:
    """Validate one group's values; raises KeyError for an unknown group, pydantic's
    ValidationError for bad values."""
    model = GROUPS[group]
    context = {REGION_CONTEXT: default_region} if default_region else None
    return model.model_validate(values, context=context)
