"""The rules file as an administrator writes it (YAML), before it is compiled.

Every model forbids unknown keys, so a typo is an error that names the key instead of a rule
that silently never fires. `switchboard_shared.rules.loader` turns pydantic's errors into messages
that name the rule and the field.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from switchboard_shared.events import Disposition, Tag

RULE_ID_RE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+$")
NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RuleSpec(_Strict):
    """One rule: when every `when` condition holds (and one of `any`, if given), it decides."""

    id: str = Field(description="Stable id that appears in every verdict's reasons")
    description: str = ""
    when: dict[str, Any] = Field(default_factory=dict)
    any: list[dict[str, Any]] = Field(default_factory=list)
    disposition: Disposition
    tags: list[Tag] = Field(default_factory=list)
    detail: str = Field(min_length=1, description="Why, with the figures used: {fact} fields")

    @field_validator("id")
    @classmethod
    def _id_shape(cls, value: str) -> str:
        if not RULE_ID_RE.match(value):
            raise ValueError("must look like `call.missed_inbound` (lower case, dotted)")
        return value

    @field_validator("tags")
    @classmethod
    def _unique_tags(cls, value: list[Tag]) -> list[Tag]:
        if len(set(value)) != len(value):
            raise ValueError("a tag is listed twice")
        return value


class Numbers(_Strict):
    own: list[str] = Field(
        default_factory=list,
        description="Our DIDs and colleagues' phones: calls with them are ours",
    )
    spam: list[str] = Field(default_factory=list, description="Numbers that only ever bring spam")
    spam_prefixes: list[str] = Field(
        default_factory=list, description="E.164 prefixes such as +1900 (premium lines)"
    )


class Legs(_Strict):
    hold_s: float = Field(
        default=3.0,
        ge=0,
        le=60,
        description="How long an unanswered leg waits for the other legs of its call",
    )
    answered_elsewhere_causes: list[str] = Field(
        default_factory=list, description="Hangup causes that mean another leg answered"
    )


class Reputation(_Strict):
    window_days: int = Field(default=365, ge=1, description="Older manager reports are forgotten")
    wrong_number_presets: list[str] = Field(default_factory=lambda: ["wrong_number"])
    spam_presets: list[str] = Field(default_factory=lambda: ["spam"])


class MailLists(_Strict):
    """Regular expressions (case-insensitive, searched) and addresses used by the mail facts."""

    allow_senders: list[str] = Field(
        default_factory=list,
        description="Addresses or @domains whose inbound mail always asks for a reply",
    )
    daemon_senders: list[str] = Field(default_factory=list, description="On the local part")
    noreply_senders: list[str] = Field(default_factory=list, description="On the local part")
    auto_reply_subjects: list[str] = Field(default_factory=list)
    bounce_subjects: list[str] = Field(default_factory=list)
    out_of_office_texts: list[str] = Field(
        default_factory=list,
        description="Searched in the first lines of the message's new text (auto-replies that "
        "carry no header saying so)",
    )
    out_of_office_hints: list[str] = Field(
        default_factory=list,
        description="What an out-of-office goes on to say (urgent matters, on my return, "
        "contact my colleague), searched in the whole new text",
    )
    calendar_reply_subjects: list[str] = Field(default_factory=list)


class RulesFile(_Strict):
    name: str = Field(min_length=1, max_length=60)
    thresholds: dict[str, float] = Field(default_factory=dict)
    numbers: Numbers = Field(default_factory=Numbers)
    legs: Legs = Field(default_factory=Legs)
    reputation: Reputation = Field(default_factory=Reputation)
    mail: MailLists = Field(default_factory=MailLists)
    call_rules: list[RuleSpec] = Field(min_length=1)
    mail_rules: list[RuleSpec] = Field(min_length=1)

    @field_validator("thresholds")
    @classmethod
    def _threshold_names(cls, value: dict[str, float]) -> dict[str, float]:
        for name in value:
            if not NAME_RE.match(name):
                raise ValueError(f"threshold name {name!r} must be lower_snake_case")
        return value
