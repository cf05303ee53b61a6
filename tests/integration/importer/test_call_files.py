"""Call-record files of every format go through the provider adapters onto the history topic
with the live path's ids; re-importing adds nothing; an interrupted import resumes."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ingest_calls.domain.calls import event_id
from integration.importer.conftest import DATA, Run, history, report_of
from switchboard_shared.events import CallRecorded
from switchboard_shared.topics import CALLS_RECORDED_HISTORY

pytestmark = pytest.mark.integration

TOPIC = CALLS_RECORDED_HISTORY.name

CASES = {
    "asterisk": (
        ["Master.csv", "--region", "DE"],
        {
            "asterisk:1772442000.1",  # two legs, one call
            "asterisk:1772446500.4",
            "asterisk:1772449200.6",
            "asterisk:1772456400.9",
        },
        [(5, "unknown disposition 'WHATEVER'"), (6, "3 columns")],
    ),
    "asterisk-cel": (
        ["cel-custom-Master.csv", "--region", "DE", "--timezone", "Europe/Berlin"],
        {"asterisk:1772700000.1", "asterisk:1772700100.1"},  # 42 events, two calls
        [],
    ),
    "freepbx": (
        ["freepbx-cdr-export.csv", "--region", "US"],
        {"asterisk:1772528400.10", "asterisk:1772533800.13"},
        [],
    ),
    "threecx": (
        ["3cx-cdr.csv", "--region", "FR"],
        {
            "threecx:00000171DEE41BB3_2501:9744",
            "threecx:00000171DEE8BB1E_2512:9745",
            "threecx:00000171DEFB6EB4_2535:9762",
        },
        [],
    ),
    "twilio": (
        ["twilio-calls.csv", "--region", "US"],
        {f"twilio:CA1111111111111111111111111111111{c}" for c in "ab"},  # c: a's dialled leg
        [],
    ),
    "generic": (
        ["generic-calls.csv", "--mapping", str(DATA / "generic-mapping.yaml")],
        {"generic:g-1", "generic:g-2"},
        [(4, "direction")],
    ),
}


@pytest.mark.parametrize("fmt", sorted(CASES))
async def test_a_file_of_each_format_lands_on_the_history_topic(
    fmt: str, run_import: Run, kafka_bootstrap: str, tmp_path: Path
) -> None:
    args, call_ids, rejects = CASES[fmt]
    name, *options = args
    status = await run_import(
        "calls", "--format", fmt, str(DATA / name), *options, "--workers", "0"
    )
    assert status == 0
    records = await history(kafka_bootstrap, TOPIC, call_ids)
    data = [json.loads(r.value) for r in records]
    assert {d["call_id"] for d in data} >= call_ids
    assert all(d["historical"] is True for d in data)
    report = sorted(report_of(tmp_path / "rejected.jsonl"), key=lambda r: int(r["where"][5:]))
    assert [
        (r["where"], any(text in r["reason"] for text in [t]))
        for r, (_, t) in zip(report, rejects, strict=True)
    ] == [(f"line {n}", True) for n, _ in rejects]


async def test_asterisk_rows_keep_their_quirks_and_the_live_ids(
    run_import: Run, kafka_bootstrap: str
) -> None:
    status = await run_import(
        "calls",
        "--format",
        "asterisk",
        str(DATA / "Master.csv"),
        "--region",
        "DE",
        "--workers",
        "1",
    )
    assert status == 0
    wanted = {"asterisk:1772442000.1", "asterisk:1772449200.6", "asterisk:1772456400.9"}
    records = await history(kafka_bootstrap, TOPIC, wanted)
    by_id = {json.loads(r.value)["call_id"]: r for r in records}
    ring = json.loads(by_id["asterisk:1772442000.1"].value)
    legs = ring["raw"]["legs"]
    assert [leg["clid"] for leg in legs] == ['"Müller, Hans" <+4930123456>'] * 2  # quoted comma
    assert legs[0]["answer"] == ""  # an empty field
    assert [(p["extension"] or p["number"], p["role"]) for p in ring["participants"]] == [
        ("+4930123456", "caller"),
        ("102", "answered"),
        ("101", "rung"),
    ]
    latin = json.loads(by_id["asterisk:1772449200.6"].value)
    assert latin["participants"][0]["name"] == "Renée Lefèvre"  # Latin-1 bytes
    multiline = json.loads(by_id["asterisk:1772456400.9"].value)
    assert multiline["raw"]["legs"][0]["clid"] == '"Multi\nline" <+4930777777>'
    # The live path's id for the call: the CEL path names a call `asterisk:<linkedid>`, and the
    # ce_id is the one its publisher gives that call, so a call seen live and imported is one.
    for call_id, record in by_id.items():
        headers = {k: v.decode() for k, v in record.headers}
        assert headers["ce_id"] == event_id(CallRecorded.model_validate_json(record.value))
        assert headers["ce_type"] == "switchboard.call.recorded.v1"
        assert headers["ce_subject"] == call_id


async def test_importing_twice_adds_nothing(
    run_import: Run, kafka_bootstrap: str, tmp_path: Path
) -> None:
    call_ids = CASES["freepbx"][1]
    path = str(DATA / "freepbx-cdr-export.csv")
    before = len(await history(kafka_bootstrap, TOPIC, call_ids))
    assert await run_import("calls", "--format", "freepbx", path, "--workers", "0") == 0
    once = len(await history(kafka_bootstrap, TOPIC, call_ids))
    assert once == before + 2
    assert await run_import("calls", "--format", "freepbx", path, "--workers", "0") == 0
    assert len(await history(kafka_bootstrap, TOPIC, call_ids)) == once


def _big_file(path: Path, calls: int, tag: int) -> int:
    """Ring groups of two legs (101 misses, 102 answers), written as cdr_csv writes them;
    returns the rows."""
    with path.open("w", newline="") as out:
        for i in range(calls):
            number = f"+49301{(i * 7919) % 90000:05d}"
            uid = f"{tag}{i:07d}.1"
            suffix = f"{tag % 4096:03x}{i:05x}"  # Asterisk's channel counter: 8 hex digits
            for leg, phone in enumerate(("101", "102")):
                answered = leg == 1
                out.write(
                    f'"","{number}","600","from-trunk","""C {i}"" <{number}>",'
                    f'"PJSIP/trunk-{suffix}","PJSIP/{phone}-{suffix}",'
                    f'"Dial","PJSIP/101&PJSIP/102,30","2025-06-01 09:00:00",'
                    f"{chr(34) + '2025-06-01 09:00:05' + chr(34) if answered else ''},"
                    f'"2025-06-01 09:01:05",65,{60 if answered else 0},'
                    f'"{"ANSWERED" if answered else "NO ANSWER"}","DOCUMENTATION","{uid}","","",'
                    f'"{uid}",{2 * i + leg}\n'
                )
    return 2 * calls


async def test_an_interrupted_import_resumes_and_loses_nothing(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    calls = 6000
    tag = int(time.time())
    path = tmp_path / "Master.csv"
    rows = _big_file(path, calls, tag)
    state = tmp_path / "state"
    command = [
        sys.executable,
        "-m",
        "switchboard_import.cli",
        "import",
        "calls",
        "--format",
        "asterisk",
        str(path),
        "--region",
        "DE",
        "--state-dir",
        str(state),
        "--no-progress",
        "--workers",
        "1",
    ]
    env = {**os.environ, "SWITCHBOARD_KAFKA_BOOTSTRAP": kafka_bootstrap}
    checkpoint_file, halfway = await asyncio.to_thread(_interrupt_then_rerun, command, env, state)
    final = json.loads(checkpoint_file.read_text())
    assert final["counts"]["rows"] == rows
    assert final["counts"]["accepted"] == calls  # a call per ring group, its two legs in it
    assert final["done"] is True
    subjects = {f"asterisk:{tag}{i:07d}.1" for i in range(calls)}
    records = await history(kafka_bootstrap, TOPIC, subjects)
    assert {json.loads(r.value)["call_id"] for r in records} == subjects
    answered = {json.loads(r.value)["status"] for r in records}
    assert answered == {"answered"}  # never a call cut in two at the interruption
    # At most the batches in flight at Ctrl-C went out twice; their ids are the same.
    assert len(records) - calls <= 4 * 1000
    assert 0 < halfway < rows


def _interrupt_then_rerun(command: list[str], env: dict[str, str], state: Path) -> tuple[Path, int]:
    """Ctrl-C the import once its first checkpoint is written, then run it again to the end;
    (the checkpoint file, the rows it held after the interruption)."""
    process = subprocess.Popen(
        command, env=env, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not any(state.glob("*.json")):
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGINT)  # as a terminal's Ctrl-C: the whole process group
    _, err = process.communicate(timeout=60)
    assert process.returncode in (0, 130), err
    [checkpoint_file] = state.glob("*.json")
    halfway = int(json.loads(checkpoint_file.read_text())["counts"]["rows"])
    rerun = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr
    return checkpoint_file, halfway
