"""`python -m crm_store`: migrate, then serve the API and consume."""

from crm_store.app import create_app
from crm_store.config import Settings
from switchboard_shared.serve import serve


def main() -> None:
    serve("crm-store", Settings(), create_app)


if __name__ == "__main__":
    main()
