"""Bench area `import`: 200,000 Asterisk CDR rows (ring groups with several legs among them)
imported into a real broker by `switchboard import calls`, as a user runs it.

Prints rows per second into Kafka (target: >= 20,000), then checks that the legs of each call
became one call on `calls.recorded.history.v1` (records = distinct calls, one per linkedid).
Then the pipeline: the four services (crm-store on SQLite) read what was imported; it prints the
calls per second they store and whether that keeps up with the import, and checks that the
interactions stored are the distinct calls and that no activity was opened (every row is older
than the 72 h horizon), within SWITCHBOARD_BENCH_IMPORT_PIPELINE_S (default 900 s). Last, that
importing the file again adds no record, and that an import interrupted with Ctrl-C halfway and
run again ends with the same counts as the uninterrupted one.

    python scripts/bench_import.py [--rows 200000] [--bootstrap host:port]

Without --bootstrap it starts a broker of its own; `make bench` calls `bench(bootstrap, workdir)`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from sqlalchemy import func, select

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from crm_store.core import Activity, Interaction, make_engine  # noqa: E402
from crm_store.migrate import migrate  # noqa: E402
from support.broker import start_broker  # noqa: E402
from support.stack import make_stack  # noqa: E402
from switchboard_shared.admin import create_topics  # noqa: E402
from switchboard_shared.settings import CommonSettings  # noqa: E402
from switchboard_shared.topics import CALLS_RECORDED_HISTORY  # noqa: E402

TOPIC = CALLS_RECORDED_HISTORY.name
TARGET_ROWS_PER_S = 20_000
PIPELINE_S = float(os.environ.get("SWITCHBOARD_BENCH_IMPORT_PIPELINE_S", "900"))
SWITCHBOARD = str(Path(sys.executable).with_name("switchboard"))


def generate(path: Path, rows: int, seed: int = 7) -> int:
    """Master.csv rows (21 columns) over a year; returns the number of distinct calls.

    A third of the inbound calls ring a group of two or three extensions (one CDR per leg,
    one linkedid); clients call again and again (2,000 numbers), as real traffic does. Every
    channel has a name of its own (`PJSIP/101-0000002a`), as Asterisk's channel counter gives.
    """
    rng = random.Random(seed)
    clients = [f"+4930{rng.randint(1_000_000, 9_999_999)}" for _ in range(2000)]
    start = 1_735_689_600  # 2025-01-01
    written = calls = channels = 0
    with path.open("w", newline="") as out:
        while written < rows:
            calls += 1
            when = start + calls * 150
            stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(when))
            linked = f"{when}.{calls}"
            client = rng.choice(clients)
            legs = rng.choice((1, 1, 2, 3)) if rng.random() < 0.8 else 1
            inbound = rng.random() < 0.7
            answered_leg = rng.randrange(legs) if rng.random() < 0.75 else -1
            channels += 1
            trunk = f"PJSIP/trunk-{channels:08x}"
            for leg in range(min(legs, rows - written)):
                ext = 101 + leg
                channels += 1
                answered = leg == answered_leg
                end = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(when + 95))
                answer = (
                    time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(when + 8)) if answered else ""
                )
                if inbound:
                    src, dst, ctx = client, "600", "from-trunk"
                    chan, dchan = trunk, f"PJSIP/{ext}-{channels:08x}"
                    clid = f'"""Client {calls % 2000}, Ltd"" <{client}>"'
                else:
                    src, dst, ctx = str(ext), client, "from-internal"
                    chan, dchan = f"PJSIP/{ext}-{channels:08x}", trunk
                    clid = f'"""{ext}"" <{ext}>"'
                out.write(
                    f'"","{src}","{dst}","{ctx}",{clid},"{chan}","{dchan}","Dial",'
                    f'"PJSIP/{ext},30","{stamp}",{answer and chr(34) + answer + chr(34)},'
                    f'"{end}",95,{87 if answered else 0},'
                    f'"{"ANSWERED" if answered else "NO ANSWER"}","DOCUMENTATION",'
                    f'"{linked}","","","{linked}",{written + 1}\n'
                )
                written += 1
    return calls


def command(path: Path, state: Path) -> list[str]:
    return [
        SWITCHBOARD,
        "import",
        "calls",
        "--format",
        "asterisk",
        str(path),
        "--region",
        "DE",
        "--timezone",
        "UTC",
        "--state-dir",
        str(state),
        "--report",
        str(state / "rejected.jsonl"),
        "--no-progress",
    ]


@dataclass(frozen=True)
class Run:
    seconds: float
    summary: str  # the import's last line: counts, rows/s, CPU per row


def run(path: Path, state: Path, env: dict[str, str]) -> Run:
    started = time.perf_counter()
    done = subprocess.run(
        command(path, state), env=env, capture_output=True, text=True, timeout=1800, check=False
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"import failed ({done.returncode}): {done.stderr[-2000:]}")
    return Run(seconds, done.stderr.strip().splitlines()[-1])


def checkpoint_counts(state: Path) -> dict[str, Any]:
    [path] = state.glob("*.json")
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def interrupt_halfway(path: Path, state: Path, env: dict[str, str], rows: int) -> int:
    """Ctrl-C (SIGINT to the process group) once half the rows are acknowledged."""
    process = subprocess.Popen(
        command(path, state), env=env, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    deadline = time.monotonic() + 600
    halfway = 0
    while time.monotonic() < deadline and process.poll() is None:
        files = list(state.glob("*.json"))
        if files:
            try:
                halfway = json.loads(files[0].read_text())["counts"]["rows"]
            except (ValueError, KeyError):
                halfway = 0
            if halfway >= rows // 2:
                break
        time.sleep(0.02)
    os.killpg(process.pid, signal.SIGINT)
    process.communicate(timeout=120)
    return halfway


async def topic_contents(bootstrap: str) -> tuple[int, set[str], set[str]]:
    """(records on the topic, distinct ce_ids, distinct linked ids)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        max_partition_fetch_bytes=8 * 1024 * 1024,
    )
    await consumer.start()
    try:
        await consumer.topics()
        partitions = [
            TopicPartition(TOPIC, p) for p in sorted(consumer.partitions_for_topic(TOPIC) or ())
        ]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        end = await consumer.end_offsets(partitions)
        count, ids, linked = 0, set(), set()
        while [p for p in partitions if await consumer.position(p) < end[p]]:
            for records in (await consumer.getmany(timeout_ms=500, max_records=10_000)).values():
                for record in records:
                    count += 1
                    headers = dict(record.headers)
                    ids.add(headers["ce_id"].decode())
                    value = json.loads(record.value)
                    linked.add(value["linked_id"])
        return count, ids, linked
    finally:
        await consumer.stop()


async def pipeline(bootstrap: str, workdir: Path, calls: int, import_s: float) -> dict[str, bool]:
    """The services read the imported history: stored calls per second against the import's."""
    run = uuid.uuid4().hex[:6]
    home = workdir / f"import-pipeline-{run}"
    home.mkdir(parents=True)
    url = f"sqlite+aiosqlite:///{home / 'crm.db'}"
    await migrate(url)
    stack = make_stack(
        home,
        bootstrap=bootstrap,
        database_url=url,
        secrets={"CRM_STORE_BOOTSTRAP_ADMIN_TOKEN": "bench-admin-token-0123456789abcdef"},
    )
    stack.env["SWITCHBOARD_LOG_LEVEL"] = "WARNING"
    engine = make_engine(url)

    async def count(model: type[Interaction] | type[Activity]) -> int:
        async with engine.connect() as connection:
            query = select(func.count()).select_from(model)
            return int((await connection.execute(query)).scalar_one())

    started = time.monotonic()
    await asyncio.to_thread(stack.start)
    try:
        stored = 0
        while stored < calls and time.monotonic() - started < PIPELINE_S:
            await asyncio.sleep(2.0)
            stored = await count(Interaction)
        seconds = time.monotonic() - started
        activities = await count(Activity)
    finally:
        await asyncio.to_thread(stack.stop)
        await engine.dispose()
    rate, import_rate = stored / seconds, calls / import_s
    keeps_up = rate >= import_rate
    print(
        f"  pipeline: {stored:,} of {calls:,} calls stored in {seconds:.0f} s (services started "
        f"included): {rate:,.0f} calls/s against the import's {import_rate:,.0f} calls/s: "
        f"{'keeps up' if keeps_up else 'falls behind (the history waits on its topics)'}"
    )
    return {
        "interactions stored = distinct calls": stored == calls,
        "no activity opened for history older than the horizon": activities == 0,
    }


async def bench(bootstrap: str, workdir: Path, rows: int = 200_000) -> bool:
    path = workdir / "Master.csv"
    calls = await asyncio.to_thread(generate, path, rows)
    size_mb = path.stat().st_size / 1e6
    print(f"import: {rows} Asterisk CDR rows ({calls} calls, {size_mb:.0f} MB)")
    env = {**os.environ, "SWITCHBOARD_KAFKA_BOOTSTRAP": bootstrap}
    state = workdir / "import-state"
    for old in (state, workdir / "import-state-interrupted"):
        for file in old.glob("*") if old.exists() else ():
            file.unlink()

    first_run = await asyncio.to_thread(run, path, state, env)
    rate = rows / first_run.seconds
    cores = os.cpu_count() or 1
    print(f"  {first_run.summary}")
    print(f"  {rate:,.0f} rows/s into Kafka, start to finish (target >= {TARGET_ROWS_PER_S:,})")
    match = re.search(r"\((\d+) us CPU per row\)", first_run.summary)
    if match:
        per_row_us = int(match.group(1))
        print(
            f"  CPU: {per_row_us} us per row (the import and its parser processes): "
            f"{cores * 1e6 / per_row_us:,.0f} rows/s on {cores} idle cores; load average "
            f"during the run {os.getloadavg()[0]:.1f} (other work shares these cores)"
        )
    first = checkpoint_counts(state)["counts"]
    records, ids, linked = await topic_contents(bootstrap)
    ok = rate >= TARGET_ROWS_PER_S
    print(f"  {calls / first_run.seconds:,.0f} calls/s (their legs built into one each)")
    checks = {
        "every row read, one call accepted per call": (
            first["rows"] == rows and first["accepted"] == calls and first["rejected"] == 0
        ),
        "one record per call (records = distinct calls = linkedids)": (
            len(ids) == calls and len(linked) == calls
        ),
    }
    checks |= await pipeline(bootstrap, workdir, calls, first_run.seconds)
    await asyncio.to_thread(run, path, state, env)
    records_after, _, _ = await topic_contents(bootstrap)
    checks["re-import adds no record"] = records_after == records
    interrupted = workdir / "import-state-interrupted"
    interrupted.mkdir(exist_ok=True)
    halfway = await asyncio.to_thread(interrupt_halfway, path, interrupted, env, rows)
    await asyncio.to_thread(run, path, interrupted, env)
    resumed = checkpoint_counts(interrupted)["counts"]
    _, ids_after, linked_after = await topic_contents(bootstrap)
    checks[f"Ctrl-C at {halfway} rows, re-run: same counts"] = (
        resumed == first and len(ids_after) == calls and len(linked_after) == calls
    )
    for name, passed in checks.items():
        print(f"  {'ok  ' if passed else 'FAIL'} {name}")
    return ok and all(checks.values())


async def main_async(args: argparse.Namespace) -> bool:
    workdir = ROOT / "var" / "bench"
    workdir.mkdir(parents=True, exist_ok=True)
    if args.bootstrap:
        await create_topics(CommonSettings(kafka_bootstrap=args.bootstrap))
        return await bench(args.bootstrap, workdir, args.rows)
    broker = start_broker(workdir / "broker-import.log")
    try:
        await create_topics(CommonSettings(kafka_bootstrap=broker.bootstrap))
        return await bench(broker.bootstrap, workdir, args.rows)
    finally:
        broker.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--bootstrap", help="an existing broker (the development broker)")
    return 0 if asyncio.run(main_async(parser.parse_args())) else 1


if __name__ == "__main__":
    sys.exit(main())
