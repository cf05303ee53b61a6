"""The shared corpora, read in place (see `tests/support/corpora.py` for where they are found)."""

from __future__ import annotations

from pathlib import Path

from harness import ROOT
from support.corpora import sisimai_maildir


def sisimai() -> Path:
    """The sisimai maildir; where none is found, the place beside the checkout it is expected."""
    return sisimai_maildir() or ROOT.parent / "shared" / "corpora" / "sisimai" / "maildir"
