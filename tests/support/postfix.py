"""A throwaway Postfix instance that accepts mail for one domain over SMTP and delivers it by
LMTP to a given port: the setup README.md shows for feeding ingest-mail from a mail server.

It has its own configuration and queue directories (`postfix -c`), listens on a loopback port,
runs no chroot, and retries deferred mail every second, so a test can watch a 451 turn into a
delivery. Postfix starts as root and drops to its `postfix` user, so the directory lives under
the system temp dir with mode 755, like Dovecot's.
"""

from __future__ import annotations

import contextlib
import shutil
import smtplib
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from support.ports import free_port, wait_listening

_MAIN_CF = """\
compatibility_level = 3.6
queue_directory = {root}/queue
data_directory = {root}/data
maillog_file_prefixes = {root}
maillog_file = {root}/postfix.log
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
myhostname = mx.{domain}
mydestination =
local_recipient_maps =
mynetworks = 127.0.0.0/8
relay_domains = {domain}
relay_recipient_maps =
transport_maps = inline:{{ {domain}=lmtp:[127.0.0.1]:{lmtp_port} }}
smtpd_recipient_restrictions = permit_mynetworks, reject_unauth_destination
smtputf8_enable = no
biff = no
# retry deferred mail at once, as a test wants it
queue_run_delay = 1s
minimal_backoff_time = 1s
maximal_backoff_time = 2s
lmtp_connection_cache_on_demand = no
"""

# Only the services this instance needs; no chroot ("n" in the fifth column).
_MASTER_CF = """\
127.0.0.1:{smtp_port} inet n - n - - smtpd
pickup    unix n - n 60 1 pickup
cleanup   unix n - n - 0 cleanup
qmgr      unix n - n 300 1 qmgr
rewrite   unix - - n - - trivial-rewrite
bounce    unix - - n - 0 bounce
defer     unix - - n - 0 bounce
trace     unix - - n - 0 bounce
verify    unix - - n - 1 verify
flush     unix n - n 1000? 0 flush
proxymap  unix - - n - - proxymap
showq     unix n - n - - showq
error     unix - - n - - error
retry     unix - - n - - error
discard   unix - - n - - discard
lmtp      unix - - n - - lmtp
anvil     unix - - n - 1 anvil
scache    unix - - n - 1 scache
postlog   unix-dgram n - n - 1 postlogd
"""


def postfix_binary() -> str | None:
    return shutil.which("postfix") or shutil.which("postfix", path="/usr/sbin:/usr/local/sbin")


@dataclass
class PostfixServer:
    binary: str
    root: Path
    smtp_port: int
    lmtp_port: int
    domain: str

    host = "127.0.0.1"

    @property
    def config_dir(self) -> Path:
        return self.root / "etc"

    @property
    def log_path(self) -> Path:
        return self.root / "postfix.log"

    def _postfix(self, *args: str) -> subprocess.CompletedProcess[str]:
        # Postfix reports to syslog, or to stderr when that is a terminal: `script` makes one.
        command = " ".join([self.binary, "-c", str(self.config_dir), *args])
        return subprocess.run(
            ["script", "-qec", command, "/dev/null"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    def start(self) -> None:
        self.config_dir.mkdir(parents=True, exist_ok=True)
        for name in ("queue", "data"):
            (self.root / name).mkdir(exist_ok=True)
        shutil.chown(self.root / "data", "postfix")  # its lock files and caches
        fields = {
            "root": self.root,
            "domain": self.domain,
            "smtp_port": self.smtp_port,
            "lmtp_port": self.lmtp_port,
        }
        (self.config_dir / "main.cf").write_text(_MAIN_CF.format(**fields))
        (self.config_dir / "master.cf").write_text(_MASTER_CF.format(**fields))
        started = self._postfix("start")
        if started.returncode != 0 or not wait_listening(self.smtp_port, timeout=30):
            raise RuntimeError(f"postfix did not start: {started.stdout}\n{self.log()}")

    def stop(self) -> None:
        self._postfix("stop")

    def log(self) -> str:
        with contextlib.suppress(OSError):
            return self.log_path.read_text(errors="replace")[-4000:]
        return ""

    def send(self, raw: bytes, sender: str, recipients: list[str]) -> None:
        """Hand a message to Postfix over SMTP, as another mail server would."""
        with smtplib.SMTP(self.host, self.smtp_port, timeout=30) as client:
            client.sendmail(sender, recipients, raw)

    def log_size(self) -> int:
        with contextlib.suppress(OSError):
            return self.log_path.stat().st_size
        return 0

    def wait_for_log(self, text: str, after: int = 0, timeout: float = 30.0) -> None:
        """Until `text` is logged past offset `after` (see `log_size`)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), self.log_path.open("rb") as log:
                log.seek(after)
                if text.encode() in log.read():
                    return
            time.sleep(0.2)
        raise AssertionError(f"postfix log has no {text!r} after {timeout}s:\n{self.log()}")


@contextmanager
def running_postfix(lmtp_port: int, domain: str = "acme.test") -> Iterator[PostfixServer]:
    binary = postfix_binary()
    if binary is None:
        raise RuntimeError("postfix is not installed (Debian: postfix)")
    root = Path(tempfile.mkdtemp(prefix="switchboard-postfix-"))
    root.chmod(0o755)
    server = PostfixServer(binary, root, free_port(), lmtp_port, domain)
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)
