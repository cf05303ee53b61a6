"""Mail archives as items in a stable order, each with the position to resume after it.

* `mbox`: one file; position = messages done.
* `maildir`: a Maildir and its Maildir++ subfolders (`.Sent`, ...); per folder, the last
  message name done (names sort by delivery time; new mail sorts last).
* `eml`: a directory of `.eml` files, recursively; the subdirectory is the folder (`Sent/...`
  is our own mail); position = the last path done.
* `imap`: an account's folders (all, or chosen ones); per folder and UIDVALIDITY, the last UID
  done. Sent is recognised by the server's `\\Sent` flag or the folder's name.

A message over `max_bytes` is not read whole: it is reported as too large.
"""

from __future__ import annotations

import mailbox
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from imapclient import IMAPClient

IMAP_BATCH = 50
IMAP_BATCH_BYTES = 32 * 1024 * 1024  # bodies fetched at once, at most (one may be larger)
_SENT_FLAG = b"\\Sent"
_SIZE = b"RFC822.SIZE"
_BODY = b"BODY[]"


@dataclass(frozen=True)
class Item:
    where: str  # for the report: "message 12", "Sent/3.eml", "INBOX uid 17"
    folder: str | None
    sent: bool | None  # the folder is the Sent folder (None: decide by its name)
    raw: bytes  # empty when `problem` is set
    position: dict[str, Any]  # the checkpoint position once this item is acknowledged
    problem: str = ""


def _too_large(size: int, max_bytes: int) -> str:
    return f"too_large: {size} bytes, limit {max_bytes}"


def mbox_items(path: Path, position: dict[str, Any], max_bytes: int) -> Iterator[Item]:
    box = mailbox.mbox(path, create=False)
    try:
        done = int(position.get("done", 0))
        for index, key in enumerate(box.iterkeys()):
            if index < done:
                continue
            start, stop = cast(Any, box)._toc[key]  # its extent: checked before it is read
            where = f"message {index + 1}"
            after = {"done": index + 1}
            if stop - start > max_bytes:
                yield Item(where, None, None, b"", after, _too_large(stop - start, max_bytes))
                continue
            yield Item(where, None, None, box.get_bytes(key), after)
    finally:
        box.close()


def _maildir_folders(root: Path) -> list[tuple[str | None, mailbox.Maildir]]:
    top = mailbox.Maildir(root, factory=None, create=False)
    folders: list[tuple[str | None, mailbox.Maildir]] = [(None, top)]
    for name in sorted(top.list_folders()):
        folders.append((name, top.get_folder(name)))
    return folders


def maildir_items(root: Path, position: dict[str, Any], max_bytes: int) -> Iterator[Item]:
    done: dict[str, str] = dict(position.get("last", {}))
    for folder, box in _maildir_folders(root):
        label = folder or "INBOX"
        for key in sorted(box.iterkeys()):
            if key <= done.get(label, ""):
                continue
            done[label] = key
            after = {"last": dict(done)}
            where = f"{label}/{key}"
            path = Path(cast(Any, box)._path) / cast(Any, box)._lookup(key)
            size = path.stat().st_size
            if size > max_bytes:
                yield Item(where, folder, None, b"", after, _too_large(size, max_bytes))
                continue
            yield Item(where, folder, None, path.read_bytes(), after)


def eml_items(root: Path, position: dict[str, Any], max_bytes: int) -> Iterator[Item]:
    last = str(position.get("last", ""))
    for path in sorted(root.rglob("*.eml")):
        relative = path.relative_to(root).as_posix()
        if relative <= last or not path.is_file():
            continue
        folder = path.parent.relative_to(root).as_posix()
        after = {"last": relative}
        size = path.stat().st_size
        if size > max_bytes:
            yield Item(
                relative,
                folder if folder != "." else None,
                None,
                b"",
                after,
                _too_large(size, max_bytes),
            )
            continue
        yield Item(relative, folder if folder != "." else None, None, path.read_bytes(), after)


@dataclass(frozen=True)
class ImapAccount:
    host: str
    port: int
    username: str
    password: str
    ssl: bool = True
    starttls: bool = False
    timeout_s: float = 60.0


def connect(account: ImapAccount) -> IMAPClient:
    client = IMAPClient(account.host, port=account.port, ssl=account.ssl, timeout=account.timeout_s)
    if account.starttls:
        client.starttls()
    client.login(account.username, account.password)
    return client


def imap_folders(client: IMAPClient, chosen: Sequence[str]) -> list[tuple[str, bool]]:
    """(folder, is Sent) for the chosen folders, or every selectable one."""
    listed = client.list_folders()
    out = []
    for flags, _, name in listed:
        if b"\\Noselect" in flags or b"\\NonExistent" in flags:
            continue
        if chosen and name not in chosen:
            continue
        out.append((str(name), _SENT_FLAG in flags))
    missing = sorted(set(chosen) - {name for name, _ in out})
    if missing:
        raise ValueError(f"no such folder(s) on the server: {', '.join(missing)}")
    return out


def _by_size(uids: list[int], sizes: dict[int, Any], limit: int) -> Iterator[list[int]]:
    group: list[int] = []
    total = 0
    for uid in uids:
        size = int(sizes.get(uid, {}).get(_SIZE, 0))
        if group and total + size > limit:
            yield group
            group, total = [], 0
        group.append(uid)
        total += size
    if group:
        yield group


def imap_items(
    client: IMAPClient, chosen: Sequence[str], position: dict[str, Any], max_bytes: int
) -> Iterator[Item]:
    done: dict[str, list[int]] = {k: list(v) for k, v in position.get("folders", {}).items()}
    for folder, flagged_sent in imap_folders(client, chosen):
        info = client.select_folder(folder, readonly=True)
        validity = int(info[b"UIDVALIDITY"])
        previous = done.get(folder)
        last_uid = previous[1] if previous and previous[0] == validity else 0
        found = client.search(["UID", f"{last_uid + 1}:*"])
        uids = sorted(uid for uid in found if uid > last_uid)
        sent = True if flagged_sent else None
        for start in range(0, len(uids), IMAP_BATCH):
            batch = uids[start : start + IMAP_BATCH]
            sizes = client.fetch(batch, [_SIZE])
            small = [u for u in batch if int(sizes.get(u, {}).get(_SIZE, 0)) <= max_bytes]
            bodies: dict[int, Any] = {}
            for group in _by_size(small, sizes, IMAP_BATCH_BYTES):
                bodies.update(client.fetch(group, [b"BODY.PEEK[]"]))
            for uid in batch:
                done[folder] = [validity, uid]
                after = {"folders": {k: list(v) for k, v in done.items()}}
                where = f"{folder} uid {uid}"
                size = int(sizes.get(uid, {}).get(_SIZE, 0))
                if size > max_bytes:
                    yield Item(where, folder, sent, b"", after, _too_large(size, max_bytes))
                    continue
                body = bodies.get(uid, {}).get(_BODY)
                if not isinstance(body, bytes):
                    yield Item(where, folder, sent, b"", after, "gone: expunged while importing")
                    continue
                yield Item(where, folder, sent, body, after)
