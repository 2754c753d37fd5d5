"""Config: the documented keys work as written; every mistake names key, file and fix."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline import config as configmod
from pipeline.config.secrets import read_secret
from pipeline.errors import ConfigError, SecretError

ISSUE_EXAMPLE = """
[database]
url = "sqlite:///triaje.db"

[[mailboxes]]
name = "desk"
url = "imap://desk@127.0.0.1:10143/INBOX"
password_env = "TRIAJE_DESK_PASSWORD"
ca_file = "{ca}"
processed_folder = "Processed"
start = "now"
poll_interval = 60
idle = true
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "triaje.toml"
    path.write_text(text)
    ca = tmp_path / "ca.pem"
    ca.write_text("x")
    return path


def test_the_documented_example_loads(tmp_path):
    path = write(tmp_path, ISSUE_EXAMPLE.format(ca=tmp_path / "ca.pem"))
    cfg = configmod.load(str(path))
    box = cfg.mailboxes[0]
    assert (box.host, box.port, box.username, box.folder) == ("127.0.0.1", 10143, "desk", "INBOX")
    assert (box.processed_folder, box.start, box.poll_interval, box.idle) == ("Processed", "now", 60, True)
    assert box.credentials.password_env == "TRIAJE_DESK_PASSWORD"
    assert cfg.database_url == "sqlite:///triaje.db"


def test_lookup_order_env_then_cwd(tmp_path, monkeypatch):
    path = write(tmp_path, ISSUE_EXAMPLE.format(ca=tmp_path / "ca.pem"))
    monkeypatch.setenv("TRIAJE_CONFIG", str(path))
    assert configmod.resolve_path(None) == path
    assert configmod.resolve_path("other.toml") == Path("other.toml")
    monkeypatch.delenv("TRIAJE_CONFIG")
    monkeypatch.chdir(tmp_path)
    assert configmod.resolve_path(None) == Path("triaje.toml")


@pytest.mark.parametrize(("change", "key", "words"), [
    (('start = "now"', 'start = "yesterday"'), "mailboxes[0].start", "one of now, all"),
    (("poll_interval = 60", 'poll_interval = "often"'), "mailboxes[0].poll_interval", "whole number"),
    (("idle = true", "idel = true"), "mailboxes[0].idel", "not a known setting"),
    (('url = "imap://desk@', 'url = "pop3://desk@'), "mailboxes[0].url", "unsupported scheme"),
    (('url = "imap://desk@', 'url = "imap://desk:hunter2@'), "mailboxes[0].url", "contains a password"),
    (('password_env = "TRIAJE_DESK_PASSWORD"', ""), "mailboxes[0].password_env", "exactly one secret"),
    (('name = "desk"', ""), "mailboxes[0].name", "is required"),
])
def test_mistakes_name_the_key_the_file_and_the_fix(tmp_path, change, key, words):
    text = ISSUE_EXAMPLE.format(ca=tmp_path / "ca.pem").replace(*change)
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        configmod.load(str(path))
    message = str(err.value)
    assert f"[{key}]" in message and words in message
    assert str(path) in message and "Fix:" in message
    assert "hunter2" not in message


def test_missing_ca_file_and_missing_config(tmp_path):
    path = write(tmp_path, ISSUE_EXAMPLE.format(ca=tmp_path / "nope.pem"))
    with pytest.raises(ConfigError, match=r"ca_file\] names a file that does not exist"):
        configmod.load(str(path))
    with pytest.raises(ConfigError, match="does not exist"):
        configmod.load(str(tmp_path / "absent.toml"))


def test_bad_toml_syntax(tmp_path):
    path = write(tmp_path, "[database\nurl=")
    with pytest.raises(ConfigError, match="not valid TOML"):
        configmod.load(str(path))


def test_secrets_from_env_and_file_never_in_errors(tmp_path, monkeypatch):
    creds = configmod.Credentials(password_env="PW_VAR")
    monkeypatch.delenv("PW_VAR", raising=False)
    with pytest.raises(SecretError, match="PW_VAR is not set"):
        read_secret(creds, "mailboxes.desk")
    monkeypatch.setenv("PW_VAR", "s3cr3t-value")
    assert read_secret(creds, "mailboxes.desk") == "s3cr3t-value"
    secret_file = tmp_path / "pw"
    secret_file.write_text("file-secret\n")
    assert read_secret(configmod.Credentials(password_file=str(secret_file)), "k") == "file-secret"
    token = configmod.Credentials(oauth2_token_command=f"{sys.executable} -c \"print('tok-123')\"")
    assert read_secret(token, "k") == "tok-123"


def test_config_check_prints_masked_config(tmp_path):
    secret_file = tmp_path / "pw"
    secret_file.write_text("do-not-print-me")
    text = ISSUE_EXAMPLE.format(ca=tmp_path / "ca.pem").replace(
        'password_env = "TRIAJE_DESK_PASSWORD"', f'password_file = "{secret_file}"')
    path = write(tmp_path, text)
    done = subprocess.run([sys.executable, "-m", "pipeline.cli", "--config", str(path), "config",
                           "check"], capture_output=True, text=True, check=True)
    data = json.loads(done.stdout)
    assert data["mailboxes"][0]["credentials"]["password_file"] == str(secret_file)
    assert "do-not-print-me" not in done.stdout + done.stderr
    assert "config OK" in done.stderr


def test_cli_reports_config_error_in_one_line(tmp_path):
    path = write(tmp_path, '[database]\nurl = 3\n')
    done = subprocess.run([sys.executable, "-m", "pipeline.cli", "--config", str(path), "config",
                           "check"], capture_output=True, text=True, check=False)
    assert done.returncode == 2
    assert "database.url" in done.stderr and "Traceback" not in done.stderr
