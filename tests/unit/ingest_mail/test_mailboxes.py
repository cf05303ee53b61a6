"""Mailbox configuration: YAML file or JSON variable, defaults, and errors that name the field
without echoing secrets. (Pure: no server needed.)"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ingest_mail.mailboxes import MailboxConfigError, load_mailboxes

YAML = """\
mailboxes:
  - name: sales
    host: imap.example.com
    username: sales@example.com
    password_env: SALES_IMAP_PASSWORD
  - name: support
    host: mail.example.com
    security: starttls
    username: support
    oauth2_token: token-value
    address: help@example.com
    folders: [INBOX, Archive, INBOX]
    poll_interval_s: 60
    idle: false
"""


def test_yaml_file_with_defaults_and_secrets_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SALES_IMAP_PASSWORD", "from-the-env-1234")
    path = tmp_path / "mailboxes.yaml"
    path.write_text(YAML)
    sales, support = load_mailboxes(str(path), None)

    assert (sales.port, sales.security, sales.folders) == (993, "tls", ("INBOX", "Sent"))
    assert sales.address == "sales@example.com"
    assert sales.password is not None
    assert sales.password.get_secret_value() == "from-the-env-1234"
    assert (sales.poll_interval_s, sales.idle) == (30, True)
    assert "from-the-env-1234" not in repr(sales)

    assert (support.port, support.security) == (143, "starttls")
    assert support.oauth2_token is not None
    assert support.password is None
    assert support.address == "help@example.com"
    assert support.folders == ("INBOX", "Archive")
    assert (support.poll_interval_s, support.idle) == (60, False)


def test_json_variable_as_a_plain_list() -> None:
    text = json.dumps(
        [{"name": "a", "host": "h", "port": 1143, "username": "u", "password": "p-1234"}]
    )
    (box,) = load_mailboxes(None, text)
    assert (box.name, box.port, box.address) == ("a", 1143, "u")


def test_nothing_configured_means_no_mailboxes() -> None:
    assert load_mailboxes(None, None) == []
    assert load_mailboxes(None, "  ") == []


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"host": "h", "username": "u"}, "exactly one of password"),
        ({"host": "h", "username": "u", "password": "x", "oauth2_token": "y"}, "got password"),
        ({"host": "h", "username": "u", "password_env": "UNSET_VAR_XYZ"}, "UNSET_VAR_XYZ"),
        ({"host": "h", "username": "u", "password": "pw-9876", "pasword": "x"}, ".pasword"),
        ({"host": "h", "username": "u", "password": "pw-9876", "security": "ssl"}, ".security"),
        ({"host": "h", "username": "u", "password": "pw-9876", "folders": []}, ".folders"),
        (
            {"name": "sales@example.com", "host": "h", "username": "u", "password": "pw-9876"},
            ".name",
        ),
    ],
)
def test_bad_entries_are_named_and_secrets_not_echoed(
    entry: dict[str, object], message: str
) -> None:
    entry = {"name": "sales", **entry}
    with pytest.raises(MailboxConfigError) as caught:
        load_mailboxes(None, json.dumps({"mailboxes": [entry]}))
    text = str(caught.value)
    assert message in text
    assert "INGEST_MAIL_MAILBOXES: mailboxes[0]" in text
    assert "pw-9876" not in text


def test_document_level_errors(tmp_path: Path) -> None:
    with pytest.raises(MailboxConfigError, match="not both"):
        load_mailboxes("x.yaml", "[]")
    with pytest.raises(MailboxConfigError, match="cannot read"):
        load_mailboxes(str(tmp_path / "missing.yaml"), None)
    with pytest.raises(MailboxConfigError, match="not valid JSON"):
        load_mailboxes(None, "{nope")
    bad = tmp_path / "bad.yaml"
    bad.write_text('- name: a\n  password: "hunter2-secret\n  host: [')
    with pytest.raises(MailboxConfigError, match=r"not valid YAML at line") as caught:
        load_mailboxes(str(bad), None)
    assert "hunter2" not in str(caught.value)
    box = {"name": "a", "host": "h", "username": "u", "password": "p"}
    with pytest.raises(MailboxConfigError, match="must be unique: a"):
        load_mailboxes(None, json.dumps([box, box]))
    with pytest.raises(MailboxConfigError, match="expected a list"):
        load_mailboxes(None, '{"name": "a"}')
