"""The commands a desk manager runs: `poll --once` and `run`, as real processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest
from conftest import make_mail
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

pytestmark = pytest.mark.dovecot


def write_config(tmp_path, cfg: dict) -> str:
    lines = []
    for key in ("database", "desk", "classifier"):
        lines.append(f"[{key}]")
        lines += [f"{k} = {json.dumps(v)}" for k, v in cfg[key].items()]
    for box in cfg["mailboxes"]:
        lines.append("[[mailboxes]]")
        lines += [f"{k} = {json.dumps(v)}" for k, v in box.items()]
    path = tmp_path / "triaje.toml"
    path.write_text("\n".join(lines) + "\n")
    tomllib.loads(path.read_text())  # the test's own TOML must be valid
    return str(path)


def triaje(*args: str, env: dict | None = None, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipeline.cli", *args], capture_output=True,
                          text=True, env={**os.environ, **(env or {})}, check=False, **kwargs)


def test_poll_once_json_summary_and_exit_status(deskbox, tmp_path, monkeypatch):
    deskbox.append(make_mail(subject="La VPN no conecta"))
    deskbox.append(make_mail(subject="Gracias por todo", sender="otro@example.com"))
    path = write_config(tmp_path, deskbox.config(tmp_path, monkeypatch))
    env = {"TRIAJE_TEST_PW": deskbox.password}
    done = triaje("--config", path, "poll", "--once", "--json", env=env)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["fetched"] == 2 and summary["new_tickets"] == 2
    assert summary["unreachable"] == []
    assert deskbox.password not in done.stdout + done.stderr
    again = json.loads(triaje("--config", path, "poll", "--once", "--json", env=env).stdout)
    assert again["fetched"] == 0
    bad = triaje("--config", path, "poll", "--once", "--json", env={"TRIAJE_TEST_PW": "nope"})
    assert bad.returncode == 1 and json.loads(bad.stdout)["unreachable"] == ["desk"]


def test_run_stops_cleanly_on_sigterm(deskbox, tmp_path, monkeypatch):
    for i in range(3):
        deskbox.append(make_mail(subject=f"mensaje {i}"))
    path = write_config(tmp_path, deskbox.config(tmp_path, monkeypatch, idle=True))
    proc = subprocess.Popen([sys.executable, "-m", "pipeline.cli", "--config", path, "run"],
                            env={**os.environ, "TRIAJE_TEST_PW": deskbox.password},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 20
        url = deskbox.database_url
        while time.monotonic() < deadline and not _tickets(url):
            time.sleep(0.1)
        assert _tickets(url) == 3
        proc.send_signal(signal.SIGTERM)
        started = time.monotonic()
        code = proc.wait(timeout=15)
        stopped_in = time.monotonic() - started
    finally:
        proc.kill()
    _out, err = proc.communicate()
    assert code == 0, err
    assert stopped_in < 10
    assert "mailbox=desk" in err and deskbox.password not in err


def _tickets(url: str) -> int:
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            return conn.execute(text("select count(*) from tickets")).scalar_one()
    except DBAPIError:  # no database file or no tables yet: the daemon is still migrating
        return 0


def test_run_with_workers_processes_in_worker_processes_that_die_with_it(deskbox, tmp_path,
                                                                         monkeypatch):
    """`[daemon] workers = 2`: the daemon fetches, two worker processes claim and process;
    a SIGKILLed daemon leaves no worker behind."""
    from chaos.harness import _children, to_toml, wait_until

    cfg = {**deskbox.config(tmp_path, monkeypatch, idle=True), "daemon": {"workers": 2}}
    path = tmp_path / "triaje.toml"
    path.write_text(to_toml(cfg))
    log = tmp_path / "daemon.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "pipeline.cli", "--config", str(path), "run"],
                                env={**os.environ, "TRIAJE_TEST_PW": deskbox.password},
                                stdout=out, stderr=out)
    try:
        assert wait_until(lambda: b"2 processing workers" in log.read_bytes(), 30)
        workers = set(_children(proc.pid))
        for i in range(40):
            deskbox.append(make_mail(subject=f"trabajo {i}", sender=f"u{i}@example.com"))
        assert wait_until(lambda: _tickets(deskbox.database_url) == 40, 60)
        owners = _owner_pids(deskbox.database_url)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        orphans_gone = wait_until(lambda: not any(_alive(pid) for pid in workers), 10)
    finally:
        proc.kill()
    assert len(workers) == 2 and owners and owners <= workers, (workers, owners)
    assert orphans_gone


def _owner_pids(url: str) -> set[int]:
    engine = create_engine(url, poolclass=NullPool)
    with engine.connect() as conn:
        owners = conn.execute(text("select distinct claimed_by from inbound")).scalars()
        return {int(owner.rsplit(":", 2)[1]) for owner in owners if owner}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
