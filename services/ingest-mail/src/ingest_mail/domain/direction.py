"""Who is "us": the mailbox identity, what proves a message is ours, its direction and
counterpart.

`From:` is a claim anyone can write. A message counts as ours (outbound, or internal when every
party is ours) only on evidence: it was read from the mailbox's Sent folder, or the topmost
`Authentication-Results` of a relay we trust says DKIM (aligned with From) or DMARC passed for
one of our domains. A message that claims to be ours without evidence is inbound and marked
`spoofed_sender`, so it can never close what a manager still has to do.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from ingest_mail.domain.authres import AuthResults, first_trusted
from switchboard_shared.email_address import EmailAddress, domain_of
from switchboard_shared.events.mail import MailDirection, SenderEvidence

__all__ = [
    "SENT_FOLDER_NAMES",
    "MailboxIdentity",
    "Sender",
    "direction_of",
    "is_sent_folder_name",
    "sender_of",
]

SENT_FOLDER_NAMES = frozenset({"sent"})
"""Folder names that hold what the mailbox sent, compared case-insensitively (`Sent`, `SENT`).
IMAP folders flagged `\\Sent` (RFC 6154) and a mailbox's configured `sent_folders` count too."""
_SRS_RE = re.compile(r"^srs[01][=+-]", re.IGNORECASE)


@dataclass(frozen=True)
class MailboxIdentity:
    """Whose mailbox this is: its address, and which domains and addresses count as ours.

    Subdomains of an own domain are ours too (``eu.acme.example`` under ``acme.example``); the
    mailbox address is always ours. Values are normalised (lower case, no trailing dot).
    """

    address: str
    own_domains: frozenset[str]
    own_addresses: frozenset[str] = frozenset()
    trusted_authserv_ids: frozenset[str] = frozenset()
    """authserv-ids of the relays whose Authentication-Results we believe (lower case)."""

    def __post_init__(self) -> None:
        domains = frozenset(d.strip().lower().strip(".") for d in self.own_domains if d.strip())
        addresses = {a.strip().lower() for a in self.own_addresses if a.strip()}
        addresses.add(self.address.strip().lower())
        trusted = frozenset(t.strip().lower() for t in self.trusted_authserv_ids if t.strip())
        object.__setattr__(self, "own_domains", domains)
        object.__setattr__(self, "own_addresses", frozenset(addresses))
        object.__setattr__(self, "trusted_authserv_ids", trusted)

    def is_own_domain(self, domain: str | None) -> bool:
        """The domain or one of its parents is one of ours (not merely an own address's)."""
        domain = (domain or "").strip().lower().strip(".")
        while domain:
            if domain in self.own_domains:
                return True
            _, _, domain = domain.partition(".")
        return False

    def is_own(self, address: str | None) -> bool:
        if not address:
            return False
        address = address.lower()
        if address in self.own_addresses:
            return True
        try:
            domain = domain_of(address)
        except ValueError:
            return False
        while True:
            if domain in self.own_domains:
                return True
            _, dot, domain = domain.partition(".")
            if not dot:
                return False


@dataclass(frozen=True)
class Sender:
    """Who a message says it is from, and what (if anything) shows that it is ours."""

    evidence: SenderEvidence
    claims_ours: bool

    @property
    def ours(self) -> bool:
        return self.claims_ours and self.evidence is not SenderEvidence.NONE

    @property
    def spoofed(self) -> bool:
        return self.claims_ours and self.evidence is SenderEvidence.NONE


def sender_of(
    mailbox: MailboxIdentity,
    *,
    from_: Sequence[EmailAddress],
    from_fields: int,
    sender: Sequence[EmailAddress] = (),
    return_path: str | None = None,
    authentication_results: Sequence[str] = (),
    sent_folder: bool = False,
) -> Sender:
    """Whether the message claims to be ours, and the evidence that it is.

    The claim is the From field (any of its addresses); only when it has no usable address do
    Sender and then Return-Path stand in (a client's message sent through our web form carries
    our Sender or Return-Path and the client's From: it is the client's). An SRS-rewritten
    Return-Path (forwarding) is not a claim. The Sent folder is evidence on its own;
    Authentication-Results only for a message with exactly one From field holding one address.
    """
    author = next((a.address for a in from_ if a.address), None)
    if author is not None:
        claims = any(mailbox.is_own(a.address) for a in from_)
    else:
        stand_in = next((a.address for a in sender if a.address), None)
        path = (return_path or "").strip().strip("<>").strip().lower()
        if stand_in is None and path and "@" in path and not _SRS_RE.match(path):
            stand_in = path
        claims = mailbox.is_own(stand_in)
    if sent_folder:
        return Sender(SenderEvidence.SENT_FOLDER, claims)
    if (
        claims  # the header is hostile input: read it only when it could matter
        and author is not None
        and from_fields == 1
        and len(from_) == 1
        and authenticated(
            mailbox, author, first_trusted(authentication_results, mailbox.trusted_authserv_ids)
        )
    ):
        return Sender(SenderEvidence.AUTHENTICATION_RESULTS, claims)
    return Sender(SenderEvidence.NONE, claims)


def authenticated(mailbox: MailboxIdentity, author: str, results: AuthResults | None) -> bool:
    """A trusted relay's results say the author's domain (one of ours) sent this message:
    `dmarc=pass` for exactly that From domain, or `dkim=pass` with a signing domain of ours
    aligned with it (the same domain, or one the parent of the other)."""
    if results is None:
        return False
    try:
        from_domain = domain_of(author)
    except ValueError:
        return False
    if not mailbox.is_own_domain(from_domain):
        return False
    for result in results.results:
        if result.result != "pass":
            continue
        if result.method == "dmarc" and _domain(result.prop("header.from")) == from_domain:
            return True
        if result.method == "dkim":
            signer = _domain(result.prop("header.d") or result.prop("header.i"))
            if signer and mailbox.is_own_domain(signer) and _aligned(signer, from_domain):
                return True
    return False


def _domain(value: str | None) -> str:
    """A property's domain: `acme.example`, `@acme.example` or `user@acme.example`."""
    return (value or "").rpartition("@")[2].strip().strip(".").lower()


def _aligned(signer: str, from_domain: str) -> bool:
    return (
        signer == from_domain
        or from_domain.endswith("." + signer)
        or signer.endswith("." + from_domain)
    )


def is_sent_folder_name(folder: str | None) -> bool:
    return folder is not None and folder.strip().casefold() in SENT_FOLDER_NAMES


def direction_of(
    mailbox: MailboxIdentity,
    sender: EmailAddress | None,
    recipients: list[EmailAddress],
    *,
    ours: bool,
) -> tuple[MailDirection, str | None]:
    """(direction, counterpart): inbound → the sender; outbound → the first external recipient.

    From us to nobody but us is internal. An unparseable sender is not us, so inbound; so is a
    sender that claims to be us without evidence (`ours` false).
    """
    if sender is None or not ours or not mailbox.is_own(sender.address):
        return MailDirection.INBOUND, sender.address if sender is not None else None
    external = [r for r in recipients if not mailbox.is_own(r.address)]
    if not external:
        return MailDirection.INTERNAL, None
    counterpart = next((r.address for r in external if r.address), None)
    return MailDirection.OUTBOUND, counterpart
