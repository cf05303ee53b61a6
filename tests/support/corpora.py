"""Where the shared test corpora live (read in place, never copied into the repository).

`SWITCHBOARD_SISIMAI_DIR` names the sisimai `maildir` explicitly; otherwise the first
`shared/corpora/sisimai/maildir` found beside the repository or one of its parents is used.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
RELATIVE = Path("shared") / "corpora" / "sisimai" / "maildir"


def sisimai_maildir() -> Path | None:
    explicit = os.environ.get("SWITCHBOARD_SISIMAI_DIR")
    if explicit:
        path = Path(explicit)
        return path if path.is_dir() else None
    for parent in REPO_ROOT.parents:
        candidate = parent / RELATIVE
        if candidate.is_dir():
            return candidate
    return None
