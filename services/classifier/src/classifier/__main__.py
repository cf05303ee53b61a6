"""`python -m classifier`: consume and classify."""

from classifier.app import create_app
from classifier.config import Settings
from switchboard_shared.serve import serve


def main() -> None:
    serve("classifier", Settings(), create_app)


if __name__ == "__main__":
    main()
