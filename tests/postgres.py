"""A real PostgreSQL on loopback for tests and benchmarks, run unprivileged from a temp folder.

Debian's `postgresql` package ships initdb and pg_ctl under /usr/lib/postgresql/<major>/bin
(not on PATH). As root the cluster runs as `nobody`, the way tests/dovecot.py runs Dovecot;
it listens on 127.0.0.1 only, with trust authentication, and durability settings off
(fsync, full-page writes): a test cluster is thrown away, speed matters more.

`create_database()` clones a template that is already migrated, so a fresh database per
test costs a file copy, not a migration.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

from dovecot import free_port

SETTINGS = """
listen_addresses = '127.0.0.1'
port = {port}
unix_socket_directories = '{d}'
max_connections = 300
shared_buffers = 64MB
fsync = off
synchronous_commit = off
full_page_writes = off
log_min_messages = warning
"""
USER = "triaje"
TEMPLATE = "triaje_template"


def binary(name: str) -> str:
    found = shutil.which(name) or next(iter(sorted(
        glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)), None)
    if not found:
        raise RuntimeError("PostgreSQL is not installed (apt-get install postgresql)")
    return found


class Postgres:
    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="triaje-postgres-", dir="/dev/shm"))
        self.dir.chmod(0o755)
        self.data = self.dir / "data"
        self.port = free_port()
        self.as_root = os.geteuid() == 0

    def _run(self, *cmd: str) -> None:
        prefix = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]
        with open(self.dir / "start.log", "ab") as out:
            subprocess.run([*prefix, *cmd] if self.as_root else list(cmd), check=True,
                           stdout=out, stderr=out, cwd=self.dir)

    def start(self) -> Postgres:
        if self.as_root:
            subprocess.run(["chown", "nobody:nogroup", str(self.dir)], check=True)
        self._run(binary("initdb"), "-D", str(self.data), "-U", USER, "--auth=trust",
                  "-E", "UTF8", "--locale=C.UTF-8", "--no-sync")
        with open(self.data / "postgresql.conf", "a") as conf:
            conf.write(SETTINGS.format(port=self.port, d=self.dir))
        self._run(binary("pg_ctl"), "-D", str(self.data), "-l", str(self.dir / "server.log"),
                  "-w", "-t", "60", "start")
        self._template()
        return self

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://{USER}@127.0.0.1:{self.port}/{database}"

    def admin(self, *statements: str) -> None:
        import psycopg  # the [postgres] extra; only needed when this cluster is used

        with psycopg.connect(f"host=127.0.0.1 port={self.port} user={USER} dbname=postgres",
                             autocommit=True) as conn:
            for statement in statements:
                conn.execute(statement)

    def _template(self) -> None:
        from pipeline.db import open_database

        self.admin(f"CREATE DATABASE {TEMPLATE}")
        open_database(self.url(TEMPLATE)).dispose()

    def create_database(self) -> str:
        """A fresh, migrated database; returns its URL."""
        name = f"t_{uuid.uuid4().hex[:16]}"
        self.admin(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE}")
        return self.url(name)

    def drop_database(self, url: str) -> None:
        self.admin(f"DROP DATABASE IF EXISTS {url.rsplit('/', 1)[1]} WITH (FORCE)")

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._run(binary("pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def cleanup(self) -> None:
        try:
            self.stop()
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)
