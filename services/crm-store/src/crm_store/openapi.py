"""The pinned HTTP contract: crm-store's OpenAPI document, committed as a snapshot.

    python -m crm_store.openapi --write   # regenerate after a deliberate change (`make schemas`)
    python -m crm_store.openapi --check   # exit 1 when the snapshot is stale

A change to a route, a parameter or a response model shows up as a diff of
`docs/crm-store.openapi.json`, which someone must approve; a refactoring leaves it unchanged.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[4]
SNAPSHOT_PATH = REPO_ROOT / "docs" / "crm-store.openapi.json"


def document() -> str:
    """The app's OpenAPI document as committed: FastAPI's key order (the order of the paths is
    the order the routes were registered in), two-space indent, UTF-8 kept, a final newline."""
    from crm_store.app import create_app
    from crm_store.config import Settings

    # Nothing is connected: the engine and the bus only connect when the app starts.
    app = create_app(Settings(database_url="sqlite+aiosqlite:///:memory:"), run_migrations=False)
    return json.dumps(app.openapi(), indent=2, sort_keys=False, ensure_ascii=False) + "\n"


def stale() -> bool:
    return not SNAPSHOT_PATH.exists() or SNAPSHOT_PATH.read_text(encoding="utf-8") != document()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m crm_store.openapi")
    parser.add_argument("--write", action="store_true", help="rewrite the snapshot")
    parser.add_argument("--check", action="store_true", help="fail on a stale snapshot (default)")
    args = parser.parse_args(argv)
    if args.write:
        SNAPSHOT_PATH.parent.mkdir(parents=True, exist_ok=True)
        SNAPSHOT_PATH.write_text(document(), encoding="utf-8")
        return 0
    if stale():
        sys.stderr.write(f"stale OpenAPI snapshot: {SNAPSHOT_PATH} (run `make schemas`)\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
