"""A real Dovecot on loopback for tests and benchmarks, run as `nobody` from a temp folder.

Recipe: ../shared/recipes/dovecot.md. Every user name logs in with PASSWORD (a static
passdb), so each test simply picks a fresh user name and gets empty mailboxes.

`Dovecot(oauth2_introspection_url=...)` also accepts XOAUTH2 and OAUTHBEARER: Dovecot's
`oauth2` passdb POSTs each bearer token to that URL (RFC 7662 token introspection) and
lets the login in only if the answer says `"active": true` with the login's user name.
PLAIN and LOGIN keep using the static password, so one instance serves both kinds of user.
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
auth_mechanisms = plain login{oauth2_mechanisms}
mail_location = maildir:~/Maildir
mail_fsync = never
passdb {{
  driver = static
  args = password={password}{static_mechanisms}
}}
{oauth2_passdb}userdb {{
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
OAUTH2_MECHANISMS = "xoauth2 oauthbearer"
# the static passdb would compare a bearer token with PASSWORD and fail: keep it to the
# password mechanisms, and the token mechanisms to the oauth2 passdb
OAUTH2_PASSDB = """\
passdb {{
  driver = oauth2
  mechanisms = {mechanisms}
  args = {d}/dovecot-oauth2.conf.ext
}}
"""
# Dovecot 2.3 (PasswordDatabase.oauth2 in its wiki): with no tokeninfo_url it goes straight
# to introspection; `post` sends `token=<token>` as a form body. The user name in the answer
# must equal the login name (username_format %Lu lower-cases it), and `active` must be true.
OAUTH2_CONF = """\
introspection_mode = post
introspection_url = {url}
force_introspection = yes
username_attribute = username
active_attribute = active
active_value = true
timeout_msecs = 5000
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
    def __init__(self, oauth2_introspection_url: str | None = None) -> None:
        """`oauth2_introspection_url` (opt-in) turns on XOAUTH2/OAUTHBEARER against that
        introspection endpoint; without it the config is the password-only one."""
        self.oauth2_introspection_url = oauth2_introspection_url
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
            imaps=self.imaps_port, lmtp=self.lmtp_port, **self._oauth2_settings()))
        if os.geteuid() == 0:
            subprocess.run(["chown", "-R", f"{self.user}:{group}", str(self.dir)], check=True)
        self._launch(binary)
        return self

    def _oauth2_settings(self) -> dict[str, str]:
        """The template's oauth2 fields: empty (the password-only config) unless opted in."""
        if not self.oauth2_introspection_url:
            return {"oauth2_mechanisms": "", "static_mechanisms": "", "oauth2_passdb": ""}
        (self.dir / "dovecot-oauth2.conf.ext").write_text(
            OAUTH2_CONF.format(url=self.oauth2_introspection_url))
        return {"oauth2_mechanisms": " " + OAUTH2_MECHANISMS,
                "static_mechanisms": "\n  mechanisms = plain login",
                "oauth2_passdb": OAUTH2_PASSDB.format(mechanisms=OAUTH2_MECHANISMS, d=self.dir)}

    def _launch(self, binary: str) -> None:
        cmd = [binary, "-c", str(self.dir / "dovecot.conf")]
        if os.geteuid() == 0:
            cmd = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", *cmd]
        with open(self.dir / "start.log", "wb") as out:
            subprocess.run(cmd, check=True, stdout=out, stderr=out)
        _wait_port(self.imap_port)
        _wait_port(self.imaps_port)
        self._wait_pidfile()

    def _wait_pidfile(self, timeout: float = 10.0) -> None:
        """The listeners open before the daemonized master writes master.pid: a stop() in
        that gap found no pid, did nothing, and left a Dovecot running on a port that
        free_port() may hand to another test."""
        deadline = time.monotonic() + timeout
        while self.pid() is None and time.monotonic() < deadline:
            time.sleep(0.01)

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
