"""Who is "us": the mailbox identity, and a message's direction and counterpart."""

from __future__ import annotations

from dataclasses import dataclass

from switchboard_shared.email_address import EmailAddress, domain_of
from switchboard_shared.events.mail import MailDirection

__all__ = ["MailboxIdentity", "direction_of"]


@dataclass(frozen=True)
class MailboxIdentity:
    """Whose mailbox this is: its address, and which domains and addresses count as ours.

    Subdomains of an own domain are ours too (``eu.acme.example`` under ``acme.example``); the
    mailbox address is always ours. Values are normalised (lower case, no trailing dot).
    """

    address: str
    own_domains: frozenset[str]
    own_addresses: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        domains = frozenset(d.strip().lower().strip(".") for d in self.own_domains if d.strip())
        addresses = {a.strip().lower() for a in self.own_addresses if a.strip()}
        addresses.add(self.address.strip().lower())
        object.__setattr__(self, "own_domains", domains)
        object.__setattr__(self, "own_addresses", frozenset(addresses))

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


def direction_of(
    mailbox: MailboxIdentity, sender: EmailAddress | None, recipients: list[EmailAddress]
) -> tuple[MailDirection, str | None]:
    """(direction, counterpart): inbound → the sender; outbound → the first external recipient.

    From us to nobody but us is internal. An unparseable sender is not us, so inbound.
    """
    if sender is None or not mailbox.is_own(sender.address):
        return MailDirection.INBOUND, sender.address if sender is not None else None
    external = [r for r in recipients if not mailbox.is_own(r.address)]
    if not external:
        return MailDirection.INTERNAL, None
    counterpart = next((r.address for r in external if r.address), None)
    return MailDirection.OUTBOUND, counterpart
