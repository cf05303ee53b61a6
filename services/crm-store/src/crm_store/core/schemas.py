"""What the API's bodies share: the base models and the bounded text types."""

from __future__ import annotations

from typing import Annotated

from pydantic import (
    BaseModel,
    ConfigDict,
    StringConstraints,
)

Text200 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Name200 = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)]
PointText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=320)]
Notes = Annotated[str, StringConstraints(max_length=10_000)]
Extension = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
PresetCode = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{1,63}$")]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


def no_nulls(model: BaseModel, *names: str) -> None:
    nulls = sorted(n for n in names if n in model.model_fields_set and getattr(model, n) is None)
    if nulls:
        raise ValueError(f"cannot be null: {', '.join(nulls)}")
