"""Which LMTP recipients are ours."""

from __future__ import annotations

from ingest_mail.domain.recipients import OurRecipients


def test_our_domains_their_subdomains_and_our_addresses() -> None:
    ours = OurRecipients.of(["acme.test", "Acme.Example."], ["boss@gmail.example"])
    assert "sales@acme.test" in ours
    assert "<Sales@ACME.test>" in ours
    assert "sales@eu.acme.test" in ours
    assert "info@acme.example" in ours
    assert "boss@gmail.example" in ours
    assert "ceo@gmail.com" not in ours
    assert "sales@notacme.test" not in ours
    assert "sales@acme.test.evil.example" not in ours
    assert "acme.test" not in ours
    assert "@acme.test" not in ours
    assert not ours.empty


def test_nothing_configured_nothing_is_ours() -> None:
    ours = OurRecipients.of([], [])
    assert ours.empty
    assert "sales@acme.test" not in ours
