"""The problems every edge raises the same way: a 422 that names the field, a 404."""

from __future__ import annotations

from switchboard_shared.problems import Problem


def invalid(field: str, message: str) -> Problem:
    """A 422 shaped like the ones request validation produces."""
    return Problem(
        422,
        "Invalid request",
        f"invalid: {field}",
        errors=[{"field": field, "message": message}],
    )


def not_found(what: str, row_id: str) -> Problem:
    return Problem(404, "Not found", f"no {what} {row_id}")
