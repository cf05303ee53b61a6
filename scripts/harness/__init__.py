"""What the benches and evaluations in `scripts/` share: a broker of their own with the topics,
services as processes, producing and reading records, throw-away databases, timing and the
printed ratios.

The scripts run as `python scripts/<name>.py`, so `scripts/` is on the path and `import harness`
finds this package. The real-server helpers the tests already have (the Tansu broker process,
free ports, memory of a process tree from /proc, the corpora) live in `tests/support/` and are
used from there, one implementation for both: importing this package puts `tests/` on the path.
The direction is one way: `tests/` never imports from `scripts/`.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BENCH_DIR = ROOT / "var" / "bench"  # logs, generated apps and state files of `make bench`

if str(ROOT / "tests") not in sys.path:
    sys.path.insert(0, str(ROOT / "tests"))
