"""A real Dovecot on loopback for tests and benchmarks, run as `nobody` from a temp folder.

Recipe: ../shared/recipes/dovecot.md. Every user name logs in with PASSWORD (a static
passdb), so each test simply picks a fresh user name and gets empty mailboxes.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

PASSWORD = "secret-pw-123"
CONF = """\
listen = 127.0.0.1
base_dir = {d}/run
state_dir = {d}/state
log_path = {d}/dovecot.log
protocols = imap lmtp
ssl = yes
ssl_cert = <{d}/cert.pem
ssl_key = <{d}/key.pem
default_internal_user = {user}
default_internal_group = {group}
default_login_user = {user}
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:~/Maildir
mail_fsync = never
passdb {{
  driver = static
  args = password={password}
}}
userdb {{
  driver = static
  args = uid={user} gid={group} home={d}/mail/%n allow_all_users=yes
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    port = {imap}
  }}
  inet_listener imaps {{
    port = {imaps}
    ssl = yes
  }}
}}
service lmtp {{
  inet_listener lmtp {{
    address = 127.0.0.1
    port = {lmtp}
  }}
}}
service anvil {{
  chroot =
}}
protocol imap {{
  mail_max_userip_connections = 200
}}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"Dovecot did not open port {port}")


class Dovecot:
    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="triaje-dovecot-", dir="/dev/shm"))
        self.dir.chmod(0o755)
        self.imap_port, self.imaps_port, self.lmtp_port = free_port(), free_port(), free_port()
        self.user = "nobody" if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name
        self.users: dict[str, str] = {}

    @property
    def ca_file(self) -> str:
        return str(self.dir / "cert.pem")

    def start(self) -> Dovecot:
        binary = shutil.which("dovecot") or "/usr/sbin/dovecot"
        if not Path(binary).exists():
            raise RuntimeError("dovecot is not installed (apt-get install dovecot-imapd "
                               "dovecot-lmtpd)")
        for sub in ("run", "state", "mail"):
            (self.dir / sub).mkdir(exist_ok=True)
        self._certificate()
        group = "nogroup" if os.geteuid() == 0 else self.user
        (self.dir / "dovecot.conf").write_text(CONF.format(
            d=self.dir, user=self.user, group=group, imap=self.imap_port, password=PASSWORD,
            imaps=self.imaps_port, lmtp=self.lmtp_port))
        if os.geteuid() == 0:
            subprocess.run(["chown", "-R", f"{self.user}:{group}", str(self.dir)], check=True)
        self._launch(binary)
        return self

    def _launch(self, binary: str) -> None:
        cmd = [binary, "-c", str(self.dir / "dovecot.conf")]
        if os.geteuid() == 0:
            cmd = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", *cmd]
        with open(self.dir / "start.log", "wb") as out:
            subprocess.run(cmd, check=True, stdout=out, stderr=out)
        _wait_port(self.imap_port)
        _wait_port(self.imaps_port)

    def _certificate(self) -> None:
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
             "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
             "-keyout", str(self.dir / "key.pem"), "-out", str(self.dir / "cert.pem")],
            check=True, capture_output=True)

    def add_user(self, name: str) -> str:
        """Any name logs in; returns the password to use."""
        self.users[name] = PASSWORD
        return PASSWORD

    def pid(self) -> int | None:
        pidfile = self.dir / "run" / "master.pid"
        return int(pidfile.read_text()) if pidfile.exists() else None

    def stop(self) -> None:
        pid = self.pid()
        if pid is None:
            return
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)

    def restart(self) -> None:
        self.stop()
        self._launch(shutil.which("dovecot") or "/usr/sbin/dovecot")

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
