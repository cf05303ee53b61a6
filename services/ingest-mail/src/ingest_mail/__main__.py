"""`python -m ingest_mail`: serve the mail intake."""

from ingest_mail.app import create_app
from ingest_mail.config import Settings
from switchboard_shared.serve import serve


def main() -> None:
    serve("ingest-mail", Settings(), create_app)


if __name__ == "__main__":
    main()
