"""`python -m ingest_calls`: serve the webhooks."""

from ingest_calls.app import create_app
from ingest_calls.config import Settings
from switchboard_shared.serve import serve


def main() -> None:
    serve("ingest-calls", Settings(), create_app)


if __name__ == "__main__":
    main()
