"""File delivery: each outgoing mail becomes `<directory>/<ticket>-<kind>.eml`
(`SD-000014-ack.eml`, `SD-000014-route.eml`), so a person browsing the folder sees what
each file is; a second mail of the same kind gets `-2`, `-3`.

Used when no SMTP server is configured (the offline demo, or a site that wants to look
before it sends). Files are written under a temporary name and renamed, so a reader never
sees half a message.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from pipeline.outbound.smtpsend import SendFailure, describe

_UNSAFE = re.compile(r"[^A-Za-z0-9._@+=-]")


def file_name(message_id: str) -> str:
    """'<a/b@example.org>' -> 'a_b@example.org.eml': no separators, no leading dot."""
    stem = _UNSAFE.sub("_", message_id.strip().strip("<>")).lstrip(".")[:200]
    return f"{stem or 'message'}.eml"


def write_eml(directory: Path, message_id: str, raw: bytes, label: str | None = None) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    final = _free_path(directory, file_name(label or message_id), raw)
    temporary = directory / f".{final.name}.tmp"
    with open(temporary, "wb") as handle:
        handle.write(raw)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, final)
    return final


def _free_path(directory: Path, name: str, raw: bytes) -> Path:
    """`name`, or `name-2`... when another mail already has it; the same mail sent again
    (a resend after a crash) keeps its file."""
    stem = name.removesuffix(".eml")
    for number in range(1, 1000):
        path = directory / (name if number == 1 else f"{stem}-{number}.eml")
        if not path.exists() or path.read_bytes() == raw:
            return path
    raise OSError(f"too many mails named {name} in {directory}")


class FileTransport:
    def __init__(self, directory: str) -> None:
        self.directory = Path(directory)
        self.name = f"directory {directory}"

    def send(self, raw: bytes, sender: str, recipients: list[str], message_id: str,
             label: str | None = None) -> dict[str, str]:
        try:
            write_eml(self.directory, message_id, raw, label)
        except OSError as exc:
            raise SendFailure(describe(exc), server=True) from exc
        return {}

    def close(self) -> None:
        """Nothing to close; present so both transports are used the same way."""
