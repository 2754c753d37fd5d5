"""`triaje user add|list|remove|passwd` through a real pipe, as a script would call them."""

from __future__ import annotations

import json
import subprocess
import sys

from webdesk import client, login

from pipeline import config as configmod
from pipeline import services


def triaje(config, *args: str, stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipeline.cli", "--config", str(config), *args],
                          input=stdin, capture_output=True, text=True, timeout=120)


def test_users_from_a_pipe(tmp_path):
    config = tmp_path / "triaje.toml"
    config.write_text(f'[database]\nurl = "sqlite:///{tmp_path / "t.db"}"\n', encoding="utf-8")
    added = triaje(config, "user", "add", "bob", "--role", "admin",
                   stdin="bob-password-1\nbob-password-1\n")
    assert added.returncode == 0, added.stderr
    assert "bob-password-1" not in added.stdout + added.stderr
    differ = triaje(config, "user", "add", "eve", "--role", "reviewer",
                    stdin="eve-password-1\nother-one-22\n")
    assert differ.returncode != 0
    short = triaje(config, "user", "add", "eve", "--role", "reviewer", stdin="short\nshort\n")
    assert short.returncode == 2 and "too short" in short.stderr
    twice = triaje(config, "user", "add", "bob", "--role", "reviewer",
                   stdin="bob-password-2\nbob-password-2\n")
    assert twice.returncode == 2 and "exists already" in twice.stderr
    listed = json.loads(triaje(config, "user", "list", "--json").stdout)
    assert [(u["name"], u["role"]) for u in listed] == [("bob", "admin")]

    env = services.build(configmod.load(str(config)), with_model=False)
    web = client(env)
    assert login(web, "bob", "bob-password-1").status_code == 303
    changed = triaje(config, "user", "passwd", "bob", stdin="bob-password-9\nbob-password-9\n")
    assert changed.returncode == 0, changed.stderr
    assert web.get("/review").status_code == 303  # the open session ended
    assert login(client(env), "bob", "bob-password-1").status_code == 401
    assert login(client(env), "bob", "bob-password-9").status_code == 303
    assert triaje(config, "user", "remove", "bob").returncode == 0
    assert json.loads(triaje(config, "user", "list", "--json").stdout) == []
    gone = triaje(config, "user", "remove", "bob")
    assert gone.returncode == 2 and "no user 'bob'" in gone.stderr
