"""Read a password or OAuth2 token at the moment a connection needs it.

Secrets are never kept in the config object and never formatted into a message: errors
name the variable or file, never the value.
"""

from __future__ import annotations

import os
import shlex
import subprocess
from pathlib import Path

from pipeline.config import Credentials
from pipeline.errors import SecretError, TokenCommandError
from pipeline.logutil import register_secret


def read_secret(creds: Credentials, key: str) -> str:
    """The secret's value, registered with the log filter so it can never be logged."""
    value = _read(creds, key)
    register_secret(value)
    return value


def _read(creds: Credentials, key: str) -> str:
    if creds.password_env or creds.oauth2_token_env:
        return _from_env(creds.password_env or creds.oauth2_token_env or "", key)
    if creds.password_file:
        return _from_file(creds.password_file, key)
    if creds.oauth2_token_command:
        return _from_command(creds.oauth2_token_command, key)
    raise SecretError(key, "has no secret source", "set password_env or password_file")


def _from_env(name: str, key: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise SecretError(key, f"environment variable {name} is not set or empty",
                          f"export {name}=... in the daemon's environment")
    return value


def _from_file(path: str, key: str) -> str:
    try:
        value = Path(path).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise SecretError(key, f"cannot read secret file {path} ({exc.strerror})",
                          "check the path and that the daemon's user may read it") from None
    if not value:
        raise SecretError(key, f"secret file {path} is empty", "write the secret into it")
    return value


def _from_command(command: str, key: str) -> str:
    try:
        done = subprocess.run(shlex.split(command), capture_output=True, text=True, timeout=60,
                              check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise TokenCommandError(key, f"token command failed to run ({type(exc).__name__})",
                          "check oauth2_token_command") from None
    token = done.stdout.strip()
    if done.returncode != 0 or not token:
        raise TokenCommandError(key, f"token command exited {done.returncode} without a token",
                          "run the command by hand and check it prints a token")
    return token


def mask(value: str | None) -> str:
    return "" if not value else "****"
