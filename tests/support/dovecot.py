"""A throwaway Dovecot IMAP server as a test process (imap only, passwd-file users).

By default it speaks plain IMAP only. `start_dovecot(tls=True)` also serves STARTTLS on the
IMAP port and implicit TLS on `tls_port`, with a certificate for 127.0.0.1 signed by a CA made
for that server (`ca_path`, PEM); `start_dovecot(idle=False)` leaves IDLE out of the
capabilities it announces after login.

Dovecot will not serve mail as root, so as root the mail store belongs to the `dovecot` user
(the recipe in the shared test-servers reference); as another user everything runs as that user.
The directory lives under the system temp dir with mode 755, not under pytest's private (0700)
temp dirs, because Dovecot's mail processes must be able to enter it. Users can be added while
the server runs: Dovecot re-reads the passwd-file when it changes.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from ipaddress import IPv4Address
from pathlib import Path

from imapclient import IMAPClient

from support.ports import free_port, wait_listening

_CONFIG = """\
base_dir = {root}/run
state_dir = {root}/run
listen = 127.0.0.1
protocols = imap
{ssl}
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:{root}/mail/%u
first_valid_uid = 1
namespace inbox {{
  inbox = yes
  # RFC 6154 special-use under a name that is not "Sent", as Exchange and Gmail do
  mailbox "Sent Items" {{
    special_use = \\Sent
  }}
}}
log_path = {root}/dovecot.log
{users}
service imap-login {{
  inet_listener imap {{
    port = {port}
  }}
{imaps}}}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/users
}}
userdb {{
  driver = static
  args = uid={mail_user} gid={mail_group} home={root}/mail/%u
}}
"""


# Dovecot 2.3's post-login capabilities without IDLE (its default list otherwise).
_CAPABILITIES_WITHOUT_IDLE = (
    "IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE SORT SORT=DISPLAY THREAD=REFERENCES "
    "THREAD=REFS THREAD=ORDEREDSUBJECT MULTIAPPEND URL-PARTIAL CATENATE UNSELECT CHILDREN "
    "NAMESPACE UIDPLUS LIST-EXTENDED I18NLEVEL=1 CONDSTORE QRESYNC ESEARCH ESORT SEARCHRES "
    "WITHIN CONTEXT=SEARCH LIST-STATUS BINARY MOVE SNIPPET=FUZZY PREVIEW=FUZZY SPECIAL-USE"
)


def dovecot_binary() -> str | None:
    return shutil.which("dovecot") or shutil.which("dovecot", path="/usr/sbin:/usr/local/sbin")


@dataclass
class DovecotServer:
    binary: str
    root: Path
    port: int
    process: subprocess.Popen[bytes] | None = None
    users: dict[str, str] = field(default_factory=dict)
    _stamp: int = 0
    tls_port: int | None = None
    ca_path: Path | None = None

    host = "127.0.0.1"

    @property
    def config_path(self) -> Path:
        return self.root / "dovecot.conf"

    @property
    def log_path(self) -> Path:
        return self.root / "dovecot.log"

    def log_tail(self, chars: int = 3000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:] if self.log_path.exists() else ""

    def add_user(self, username: str, password: str) -> None:
        self.users[username] = password
        lines = "".join(f"{name}:{{PLAIN}}{secret}\n" for name, secret in self.users.items())
        tmp = self.root / "users.tmp"
        tmp.write_text(lines)
        # Dovecot looks at the passwd-file at most once a second and re-reads it when its mtime
        # (whole seconds) or size changed. Make the mtime differ, then let a second pass: a login
        # tried too early fails, and failed logins are slowed down by the auth penalty.
        self._stamp = max(self._stamp + 1, int(time.time()))
        os.utime(tmp, (self._stamp, self._stamp))
        written = time.time()
        tmp.replace(self.root / "users")
        if self.process is not None:
            time.sleep(max(0.0, int(written) + 1.05 - time.time()))

    def start(self) -> None:
        self.process = subprocess.Popen(
            [self.binary, "-F", "-c", str(self.config_path)],
            stdout=subprocess.DEVNULL,
            stderr=(self.root / "dovecot.stderr").open("wb"),
        )
        ports = [self.port] if self.tls_port is None else [self.port, self.tls_port]
        if not all(wait_listening(port) for port in ports):
            self.stop()
            stderr = (self.root / "dovecot.stderr").read_text(errors="replace")
            raise RuntimeError(f"dovecot did not listen on {self.port}:\n{stderr}{self.log_tail()}")

    def stop(self) -> None:
        """Stop the server and every process it started, so all client connections drop.

        The master leaves its children (and so the clients' sessions) running for a while after
        SIGTERM: they are found by parent pid before it goes and stopped by pid.
        """
        if self.process is not None and self.process.poll() is None:
            children = _children(self.process.pid)
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            _terminate(children)
        self.process = None

    def kick(self, username: str) -> None:
        """Disconnect the user's sessions (the server says BYE), as an admin would."""
        subprocess.run(
            ["doveadm", "-c", str(self.config_path), "kick", username],
            check=True,
            capture_output=True,
        )

    def restart(self) -> None:
        self.stop()
        self.start()

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[1] == str(pid):
            found.append(int(stat.parent.name))
    return found


def _terminate(pids: list[int], timeout: float = 10.0) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while any(Path(f"/proc/{pid}").exists() for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def write_certificates(directory: Path, host: str = "127.0.0.1") -> tuple[Path, Path, Path]:
    """A CA and a server certificate it signed for `host` (an IP address): (ca, cert, key)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.now(UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Switchboard test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=2))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(IPv4Address(host))]), False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    ca_path, cert_path, key_path = (
        directory / "ca.pem",
        directory / "cert.pem",
        directory / "key.pem",
    )
    ca_path.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)
    return ca_path, cert_path, key_path


def start_dovecot(
    port: int | None = None, *, tls: bool = False, idle: bool = True
) -> DovecotServer:
    """Configure and start a server on a free loopback port; `remove()` stops and deletes it.

    `tls`: STARTTLS on the port, implicit TLS on `tls_port`, the CA in `ca_path`. `idle=False`:
    IDLE is not among the capabilities announced after login."""
    binary = dovecot_binary()
    if binary is None:
        raise FileNotFoundError("dovecot is not installed (Debian: dovecot-imapd)")
    root = Path(tempfile.mkdtemp(prefix="switchboard-dovecot-"))
    root.chmod(0o755)
    (root / "run").mkdir()
    mail = root / "mail"
    mail.mkdir()
    if os.geteuid() == 0:
        mail_user = mail_group = "dovecot"
        shutil.chown(mail, "dovecot", "dovecot")
        users = ""
    else:
        me = pwd.getpwuid(os.geteuid()).pw_name
        mail_user, mail_group = str(os.geteuid()), str(os.getegid())
        users = f"default_internal_user = {me}\ndefault_login_user = {me}\n"
    port = port or free_port()
    ssl, imaps, tls_port, ca_path = "ssl = no", "", None, None
    if tls:
        tls_dir = root / "tls"
        tls_dir.mkdir(mode=0o700)
        ca_path, cert_path, key_path = write_certificates(tls_dir)
        tls_port = free_port()
        ssl = f"ssl = yes\nssl_cert = <{cert_path}\nssl_key = <{key_path}"
        imaps = f"  inet_listener imaps {{\n    port = {tls_port}\n    ssl = yes\n  }}\n"
    if not idle:
        users += f"protocol imap {{\n  imap_capability = {_CAPABILITIES_WITHOUT_IDLE}\n}}\n"
    config = _CONFIG.format(
        root=root,
        port=port,
        users=users,
        mail_user=mail_user,
        mail_group=mail_group,
        ssl=ssl,
        imaps=imaps,
    )
    (root / "dovecot.conf").write_text(config)
    server = DovecotServer(binary, root, port, tls_port=tls_port, ca_path=ca_path)
    server.add_user("probe@acme.test", "probe-secret")
    try:
        server.start()
    except BaseException:
        server.remove()
        raise
    return server


@dataclass
class MailAccount:
    """A user of the server, driven over IMAP the way a mail client or delivery agent would."""

    server: DovecotServer
    username: str
    password: str

    @contextmanager
    def client(self) -> Iterator[IMAPClient]:
        client = IMAPClient(self.server.host, self.server.port, ssl=False, timeout=10)
        try:
            client.login(self.username, self.password)
            yield client
        finally:
            client.logout()

    def append(self, folder: str, *messages: bytes) -> list[int]:
        """APPEND messages (creating the folder if needed); their UIDs, in order."""
        uids = []
        with self.client() as client:
            if not client.folder_exists(folder):
                client.create_folder(folder)
            for raw in messages:
                response = client.append(folder, raw)
                match = re.search(rb"APPENDUID \d+ (\d+)", response)
                assert match is not None, response
                uids.append(int(match.group(1)))
        return uids

    def uidvalidity(self, folder: str) -> int:
        with self.client() as client:
            return int(client.folder_status(folder, [b"UIDVALIDITY"])[b"UIDVALIDITY"])

    def flags(self, folder: str) -> dict[int, tuple[bytes, ...]]:
        with self.client() as client:
            client.select_folder(folder, readonly=True)
            uids = client.search("ALL")
            return {
                uid: tuple(data[b"FLAGS"]) for uid, data in client.fetch(uids, [b"FLAGS"]).items()
            }

    def delete_folder(self, folder: str) -> None:
        with self.client() as client:
            client.delete_folder(folder)


def make_message(n: int, tag: str = "t", *, subject: str | None = None) -> bytes:
    """A small RFC 822 message with a unique Message-ID per (n, tag)."""
    return (
        "From: Ann Client <ann@client.example>\r\n"
        "To: sales@acme.test\r\n"
        f"Subject: {subject or f'message {n}'}\r\n"
        f"Date: Tue, 25 Nov 2025 10:{n % 60:02d}:00 +0000\r\n"
        f"Message-ID: <{n}.{tag}@client.example>\r\n"
        "\r\n"
        f"Body of message {n}.\r\n"
    ).encode()
