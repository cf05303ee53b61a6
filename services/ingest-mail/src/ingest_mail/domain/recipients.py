"""Which envelope recipients are ours: the only ones the LMTP door accepts mail for."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["OurRecipients"]


@dataclass(frozen=True)
class OurRecipients:
    """Our domains (and their subdomains) and our addresses outside them, lower case.

    With neither configured nothing is ours, and every recipient is refused.
    """

    domains: frozenset[str]
    addresses: frozenset[str] = frozenset()

    @classmethod
    def of(cls, domains: object, addresses: object) -> OurRecipients:
        def clean(values: object) -> frozenset[str]:
            items = values if isinstance(values, list | tuple | set | frozenset) else []
            return frozenset(str(v).strip().lower().strip(".") for v in items if str(v).strip())

        return cls(clean(domains), clean(addresses))

    @property
    def empty(self) -> bool:
        return not self.domains and not self.addresses

    def __contains__(self, address: object) -> bool:
        if not isinstance(address, str):
            return False
        address = address.strip().strip("<>").strip().lower()
        if address in self.addresses:
            return True
        local, at, domain = address.rpartition("@")
        if not at or not local:
            return False
        domain = domain.rstrip(".")
        while domain:
            if domain in self.domains:
                return True
            _, _, domain = domain.partition(".")
        return False
