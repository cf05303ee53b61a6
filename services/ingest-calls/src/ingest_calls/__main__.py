"""`python -m ingest_calls`: serve the webhooks."""

import os

from pydantic import ValidationError

from ingest_calls.app import create_app
from ingest_calls.config import Settings
from switchboard_shared.serve import serve


def settings_or_exit() -> Settings:
    """The settings, or exit with what is wrong (never echoing a value: some are secrets)."""
    try:
        return Settings()
    except ValidationError as exc:
        problems = []
        for error in exc.errors(include_input=False, include_url=False):
            where = ".".join(str(part) for part in error["loc"])
            problems.append(f"  {where + ': ' if where else ''}{error['msg']}")
        raise SystemExit("ingest-calls: cannot start:\n" + "\n".join(problems)) from None


def main() -> None:
    settings = settings_or_exit()
    # Which proxies' X-Forwarded-* headers are believed is INGEST_CALLS_TRUSTED_PROXIES, judged
    # against the connecting address; uvicorn's own handling would replace that address first.
    os.environ["FORWARDED_ALLOW_IPS"] = ""
    serve("ingest-calls", settings, create_app)


if __name__ == "__main__":
    main()
