"""Where the time goes: py-spy sampling the bench's own service processes while the load runs.

`python scripts/bench.py --profile <area ...>` (or `make bench ARGS='--profile e2e'`) records,
for each process an area names, its collapsed stacks (`var/bench/profile-<process>.txt`, for
flamegraph.pl, speedscope or grep) and prints the functions holding the most samples, inclusive (the
function and what it calls) and by self time. py-spy is a development tool
(requirements-dev.txt); it attaches with ptrace, so it needs root or
`kernel.yama.ptrace_scope=0`. Only samples of a thread holding the GIL count: an idle event
loop (uvloop waits in C) is left out, and so is time in C code that released the GIL (SQLite
executing a statement); the CPU per event the areas print, from /proc, has everything. See
docs/profiling.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import sys
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

ENV = "SWITCHBOARD_BENCH_PROFILE"  # set by bench.py --profile: the directory for the profiles
RATE = 97  # samples a second: cheap enough not to change what is measured much
TOP = 12


def enabled() -> Path | None:
    directory = os.environ.get(ENV)
    return Path(directory) if directory else None


@contextlib.asynccontextmanager
async def profiled(pids: dict[str, int]) -> AsyncIterator[None]:
    """Sample each process (and its children) while the block runs, when profiling is on."""
    directory = enabled()
    if directory is None:
        yield
        return
    venv_bin = Path(sys.executable).parent / "py-spy"
    py_spy = str(venv_bin) if venv_bin.exists() else shutil.which("py-spy")
    if py_spy is None:
        raise RuntimeError("py-spy is not installed (make install puts it in the venv)")
    directory.mkdir(parents=True, exist_ok=True)
    recorders = []
    for name, pid in pids.items():
        recorders.append(
            await asyncio.create_subprocess_exec(
                py_spy, "record", "--pid", str(pid), "--subprocesses", "--nonblocking",
                "--rate", str(RATE), "--format", "raw", "--gil",
                "--output", str(directory / f"profile-{name}.txt"),
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.DEVNULL,
            )
        )  # fmt: skip
    try:
        yield
    finally:
        for recorder in recorders:
            with contextlib.suppress(ProcessLookupError):
                recorder.send_signal(signal.SIGINT)  # py-spy writes its output on SIGINT
        await asyncio.gather(*(r.wait() for r in recorders))
    for name in pids:
        print(summary(name, directory / f"profile-{name}.txt"))


def summary(name: str, collapsed: Path) -> str:
    """The functions with the most samples in a collapsed-stack file, inclusive and self."""
    if not collapsed.exists():
        return f"  profile {name}: no samples"
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for line in collapsed.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_function(f) for f in stack.split(";") if not f.startswith("process ")]
        total += count
        for frame in set(frames):
            inclusive[frame] += count
        if frames:
            own[frames[-1]] += count
    if not total:
        return f"  profile {name}: no samples"
    lines = [f"  profile {name}: {total} samples at {RATE}/s holding the GIL ({collapsed})"]
    lines.append("    inclusive (below the entry points):")
    entry = inclusive.most_common(1)[0][1]
    below = [(f, c) for f, c in inclusive.most_common() if c < 0.9 * entry][:TOP]
    lines += [f"      {c / total:6.1%}  {f}" for f, c in below]
    lines.append("    self:")
    lines += [f"      {c / total:6.1%}  {f}" for f, c in own.most_common(TOP)]
    return "\n".join(lines)


def _function(frame: str) -> str:
    """`name (path/to/file.py:123)` -> `name (file.py)`: samples add up per function."""
    name, _, where = frame.partition(" (")
    return f"{name} ({where.rstrip(')').rsplit('/', 1)[-1].split(':')[0]})"
