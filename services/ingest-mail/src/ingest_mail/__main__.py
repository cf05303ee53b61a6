"""`python -m ingest_mail`: serve the mail intake."""

from pydantic import ValidationError

from ingest_mail.app import create_app
from ingest_mail.config import Settings
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
        raise SystemExit("ingest-mail: cannot start:\n" + "\n".join(problems)) from None


def main() -> None:
    serve("ingest-mail", settings_or_exit(), create_app)


if __name__ == "__main__":
    main()
