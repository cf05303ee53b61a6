"""`switchboard import calls|mail ...` (also `make import ARGS='...'`). See the README's
"Bringing your history" for a command per source.

Configuration is the services' own: `SWITCHBOARD_*` (broker, region, own domains) and the
intakes' settings (`INGEST_CALLS_ASTERISK_TIMEZONE`, `INGEST_CALLS_INTERNAL_RANGES`,
`INGEST_MAIL_MAX_MESSAGE_BYTES`, ...), so a file is read exactly as the live intake reads that
provider. Command-line options override them for one import.

Exit status: 0 done, 1 the broker or the source failed (re-run to resume), 2 bad usage,
130 interrupted (re-run to resume).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import os
import sys
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

import yaml
from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError
from rich.console import Console

from ingest_calls.config import Settings as CallSettings
from ingest_mail.config import Settings as MailSettings
from ingest_mail.domain.parse import MailboxIdentity
from ingest_mail.intake import mailbox_address
from ingest_mail.parsing import ParserPool
from switchboard_import import mailsources
from switchboard_import.callformats import FORMATS, Job, check_mapping
from switchboard_import.calls import NoHeader, executor_for, import_calls
from switchboard_import.checkpoint import Checkpoint, CheckpointStore, Counts, file_fingerprint
from switchboard_import.mail import MailJob, import_mail
from switchboard_import.mailsources import ImapAccount, Item
from switchboard_import.progress import Meter
from switchboard_import.report import Report
from switchboard_import.sink import Sink
from switchboard_shared.kafka import BrokerUnavailable
from switchboard_shared.logging import configure_logging
from switchboard_shared.settings import CommonSettings

INTERRUPTED = 130
MAX_MAPPING_BYTES = 64 * 1024


class UsageError(Exception):
    pass


def _pairs(items: Sequence[str], what: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise UsageError(f"{what}: expected name=value, got {item!r}")
        out[name.strip()] = value.strip()
    return out


def _mapping_file(path: Path) -> tuple[dict[str, str], dict[str, str]]:
    """A YAML mapping: `columns: {field: column}` plus optional `timezone`, `region`; or just
    `field: column` pairs. Returns (columns, options)."""
    if path.stat().st_size > MAX_MAPPING_BYTES:
        raise UsageError(f"{path}: a mapping file is a few lines, not {path.stat().st_size} bytes")
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(document, dict):
        raise UsageError(f"{path}: expected a mapping of field: column")
    columns = document.get("columns", document)
    options = {k: str(document[k]) for k in ("timezone", "region") if k in document}
    if not isinstance(columns, dict):
        raise UsageError(f"{path}: `columns` must map our field names to column names")
    cleaned = {str(k): str(v) for k, v in columns.items() if k not in ("timezone", "region")}
    return cleaned, options


def _stamp() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")


def _common_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=Path("var/import"),
        help="where the checkpoints are kept (default var/import)",
    )
    parser.add_argument(
        "--report",
        type=Path,
        default=None,
        help="rejected rows and reasons, JSON lines (default <state-dir>/rejected-<time>.jsonl)",
    )
    parser.add_argument(
        "--restart",
        action="store_true",
        help="forget the checkpoint and import from the start (dedupes downstream)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="switchboard", description="Switchboard tools")
    top = parser.add_subparsers(dest="command", required=True)
    imp = top.add_parser("import", help="import past calls or mail")
    what = imp.add_subparsers(dest="what", required=True)

    calls = what.add_parser("calls", help="call-record files (CSV)")
    calls.add_argument("files", nargs="+", type=Path)
    calls.add_argument("--format", required=True, choices=sorted(FORMATS))
    calls.add_argument(
        "--map",
        action="append",
        default=[],
        metavar="FIELD=COLUMN",
        help="generic: our field and the file's column (repeat)",
    )
    calls.add_argument("--mapping", type=Path, help="generic: a YAML file of field: column")
    calls.add_argument("--timezone", help="IANA zone of times without an offset")
    calls.add_argument("--region", help="ISO country of national numbers")
    calls.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a provider option, as INGEST_CALLS_<PROVIDER>_<NAME> (repeat)",
    )
    calls.add_argument(
        "--workers",
        type=int,
        default=min(2, os.cpu_count() or 1),
        help="parser processes (0: parse in this process)",
    )
    _common_options(calls)

    mail = what.add_parser("mail", help="mail archives and IMAP accounts")
    kinds = mail.add_subparsers(dest="source", required=True)
    for kind, text in (
        ("mbox", "an mbox file"),
        ("maildir", "a Maildir (with its subfolders)"),
        ("eml", "a directory of .eml files"),
    ):
        sub = kinds.add_parser(kind, help=text)
        sub.add_argument("path", type=Path)
        sub.add_argument("--mailbox", required=True, help="whose mail this is (our address)")
        sub.add_argument("--folder", help="the folder these messages were in (e.g. Sent)")
        _common_options(sub)
    imap = kinds.add_parser("imap", help="an IMAP account's full history")
    imap.add_argument("--host", required=True)
    imap.add_argument("--port", type=int, default=None)
    imap.add_argument("--user", required=True)
    imap.add_argument(
        "--password-env",
        default="SWITCHBOARD_IMAP_PASSWORD",
        help="the variable holding the password (else it is asked for)",
    )
    imap.add_argument(
        "--folder",
        action="append",
        default=[],
        help="a folder to import (repeat); default: every folder",
    )
    imap.add_argument("--mailbox", help="our address for this account (default: --user)")
    imap.add_argument("--no-tls", action="store_true", help="plain IMAP (test servers only)")
    imap.add_argument("--starttls", action="store_true", help="plain connection, then STARTTLS")
    _common_options(imap)
    return parser


class Runner:
    def __init__(self, args: argparse.Namespace, console: Console) -> None:
        self.args = args
        self.console = console
        self.store = CheckpointStore(args.state_dir)
        self.report = Report(args.report or args.state_dir / f"rejected-{_stamp()}.jsonl")
        self.common = CommonSettings()

    def meter(self, label: str, total: float | None, unit: str = "") -> Meter:
        return Meter(label, total, console=self.console, show=not self.args.no_progress, unit=unit)

    def say(self, text: str) -> None:
        self.console.print(text, highlight=False, soft_wrap=True)

    # --- calls --------------------------------------------------------------------------------

    def call_job(self) -> Job:
        args = self.args
        fmt = FORMATS[args.format]
        settings = CallSettings()
        options = settings.options_for(fmt.provider)
        options.update(_pairs(args.option, "--option"))
        mapping: dict[str, str] = {}
        if args.mapping:
            mapping, extra = _mapping_file(args.mapping)
            options.update({k: v for k, v in extra.items() if k == "timezone"})
            if "region" in extra and not args.region:
                args.region = extra["region"]
        mapping.update(_pairs(args.map, "--map"))
        if args.timezone:
            options["timezone"] = args.timezone
        if fmt.name == "generic":
            try:
                check_mapping(mapping)
            except ValueError as exc:
                raise UsageError(f"--map/--mapping: {exc}") from exc
        elif mapping:
            raise UsageError("--map and --mapping are for --format generic")
        region = (args.region or settings.region_for(fmt.provider)).upper()
        return Job(fmt.name, region, settings.phone_policy, options, mapping)

    async def calls(self) -> Counts:
        job = self.call_job()
        total = Counts()
        sink = Sink(self.common)
        await sink.start()
        executor = executor_for(self.args.workers)
        try:
            for path in self.args.files:
                if not path.is_file():
                    raise UsageError(f"{path}: no such file")
                unit = "calls" if FORMATS[job.format].build is not None else ""
                with self.meter(path.name, path.stat().st_size, unit) as meter:
                    try:
                        counts = await import_calls(
                            path,
                            job,
                            store=self.store,
                            sink=sink,
                            report=self.report,
                            meter=meter,
                            executor=executor,
                            restart=self.args.restart,
                            in_flight=max(4, 4 * self.args.workers),
                        )
                    except NoHeader as exc:
                        raise UsageError(str(exc)) from exc
                    except BaseException:  # Ctrl-C (cancelled), the broker gone, ...
                        self.say(meter.summary(interrupted=True, report=str(self.report.path)))
                        raise
                    self.say(meter.summary(report=str(self.report.path)))
                total.add(counts)
        finally:
            executor.shutdown(wait=False, cancel_futures=True)
            await sink.stop()
        return total

    # --- mail ---------------------------------------------------------------------------------

    def mail_settings(self) -> MailSettings:
        return MailSettings(http_anonymous=True)

    def identity(self, settings: MailSettings, address: str) -> MailboxIdentity:
        mailbox = mailbox_address(address)
        if mailbox is None:
            raise UsageError(f"--mailbox: {address!r} is not an e-mail address")
        return MailboxIdentity(
            mailbox,
            frozenset(d.lower() for d in self.common.own_domains),
            settings.own_address_set,
            settings.trusted_authserv_id_set,
        )

    async def mail(self) -> Counts:
        args = self.args
        settings = self.mail_settings()
        max_bytes = settings.max_message_bytes
        if args.source == "imap":
            return await self.imap(settings)
        identity = self.identity(settings, args.mailbox)
        checkpoint, total = await asyncio.to_thread(self._archive, identity)
        path: Path = args.path
        position = dict(checkpoint.position)

        def items() -> Iterator[Item]:
            if args.source == "mbox":
                found = mailsources.mbox_items(path, position, max_bytes)
            elif args.source == "maildir":
                found = mailsources.maildir_items(path, position, max_bytes)
            else:
                found = mailsources.eml_items(path, position, max_bytes)
            for item in found:
                if args.folder and item.folder is None:
                    item = Item(
                        item.where, args.folder, None, item.raw, item.position, item.problem
                    )
                yield item

        return await self._run_mail(
            items(), identity, max_bytes, settings, checkpoint, str(path), total
        )

    def _archive(self, identity: MailboxIdentity) -> tuple[Checkpoint, float | None]:
        """The archive's checkpoint and, where cheap to know, how many messages it holds."""
        args = self.args
        path: Path = args.path
        if args.source == "mbox" and not path.is_file():
            raise UsageError(f"{path}: no such mbox file")
        if args.source != "mbox" and not path.is_dir():
            raise UsageError(f"{path}: no such directory")
        source = f"mail:{args.source}:{identity.address}:{path.resolve()}"
        fingerprint = file_fingerprint(path) if args.source == "mbox" else "dir"
        if args.restart:
            self.store.forget(source)
        checkpoint = self.store.load(source, fingerprint)
        total = float(sum(1 for _ in path.rglob("*.eml"))) if args.source == "eml" else None
        return checkpoint, total

    async def _run_mail(
        self,
        items: Iterator[Item],
        identity: MailboxIdentity,
        max_bytes: int,
        settings: MailSettings,
        checkpoint: Checkpoint,
        label: str,
        total: float | None,
    ) -> Counts:
        pool = ParserPool(settings.parse_options)
        sink = Sink(self.common)
        await sink.start()
        await pool.start()
        try:
            with self.meter(label, total) as meter:
                meter.resume_from(Counts(), checkpoint.counts.rows)
                try:
                    counts = await import_mail(
                        items,
                        MailJob(identity, max_bytes),
                        label=label,
                        checkpoint=checkpoint,
                        store=self.store,
                        pool=pool,
                        sink=sink,
                        report=self.report,
                        meter=meter,
                    )
                except BaseException:  # Ctrl-C (cancelled), the broker or the server gone, ...
                    self.say(meter.summary(interrupted=True, report=str(self.report.path)))
                    raise
                self.say(meter.summary(report=str(self.report.path)))
                return counts
        finally:
            await pool.close()
            await sink.stop()

    async def imap(self, settings: MailSettings) -> Counts:
        args = self.args
        password = os.environ.get(args.password_env)
        if password is None:
            password = getpass.getpass(f"IMAP password for {args.user}: ")
        account = ImapAccount(
            args.host,
            args.port or (143 if args.no_tls or args.starttls else 993),
            args.user,
            password,
            ssl=not (args.no_tls or args.starttls),
            starttls=args.starttls,
        )
        identity = self.identity(settings, args.mailbox or args.user)
        try:
            client: IMAPClient = await asyncio.to_thread(mailsources.connect, account)
        except (OSError, IMAPClientError) as exc:
            raise SourceFailed(f"IMAP {args.host}: {exc}") from exc
        try:
            source = f"mail:imap:{identity.address}:{args.host}:{args.user}"
            checkpoint = self.store.load(source, "imap")
            if args.restart:
                self.store.forget(source)
                checkpoint = self.store.load(source, "imap")
            chosen = list(args.folder)
            try:
                folders = await asyncio.to_thread(mailsources.imap_folders, client, chosen)
            except ValueError as exc:
                raise UsageError(str(exc)) from exc
            total = 0.0
            for folder, _ in folders:
                status = await asyncio.to_thread(client.folder_status, folder, [b"MESSAGES"])
                total += int(status.get(b"MESSAGES", 0))
            items = mailsources.imap_items(
                client, chosen, dict(checkpoint.position), settings.max_message_bytes
            )
            return await self._run_mail(
                items,
                identity,
                settings.max_message_bytes,
                settings,
                checkpoint,
                f"{args.user}@{args.host}",
                total,
            )
        finally:
            with contextlib.suppress(Exception):
                await asyncio.to_thread(client.logout)


class SourceFailed(Exception):
    pass


async def _run(args: argparse.Namespace, runner: Runner) -> Counts:
    if args.what == "calls":
        return await runner.calls()
    return await runner.mail()


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging("switchboard-import", level="WARNING", fmt="text")
    console = Console(stderr=True)
    runner = Runner(args, console)
    try:
        asyncio.run(_run(args, runner))
    except KeyboardInterrupt:
        console.print(
            "interrupted: the checkpoint holds every acknowledged row; "
            "run the same command again to resume"
        )
        return INTERRUPTED
    except UsageError as exc:
        console.print(f"switchboard import: {exc}", highlight=False)
        return 2
    except (BrokerUnavailable, SourceFailed, OSError) as exc:
        console.print(f"switchboard import: {exc}; run it again to resume", highlight=False)
        return 1
    finally:
        runner.report.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
