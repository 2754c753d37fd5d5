"""Mail addresses: the one check used for config values and for the addresses we reply to.

Deliberately narrower than RFC 5322: an address we write into a header or an SMTP envelope
must not carry quotes, commas, brackets or white space, whatever the sender typed.
"""

from __future__ import annotations

import re
from email.utils import parseaddr

_ADDRESS = re.compile(r"^[^@\s<>,;:\"'()\[\]\\]+@[^@\s<>,;:\"'()\[\]\\]+$")


def is_address(text: str) -> bool:
    """ASCII only: a UTF-8 address needs SMTPUTF8, which triaje does not ask servers for."""
    return text.isascii() and len(text) <= 320 and bool(_ADDRESS.match(text))


def normalise(text: str) -> str:
    return text.strip().lower()


def domain_of(address: str) -> str:
    return address.rpartition("@")[2].lower()


def split_header(text: str) -> tuple[str, str]:
    """'Mesa de servicio <desk@example.org>' -> ('Mesa de servicio', 'desk@example.org')."""
    name, address = parseaddr(text)
    return name, normalise(address)
