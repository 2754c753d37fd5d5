"""Hostile messages, each built from scratch as bytes: what a desk mailbox on the open
internet receives sooner or later, from broken mailers and from people probing it."""

from __future__ import annotations

import base64
from collections.abc import Callable

JINJA_SUBJECT = "{{ 7*7 }} {% for x in range(3) %}loop{% endfor %} {{ config }}"
JINJA_BODY = ("Hola {{ ''.__class__.__mro__[1].__subclasses__() }}\n"
              "{% raw %}{% endraw %}{{ 6*7 }} {# comment #}\n")
VICTIM = "victim@example.net"


def _head(n: int, subject: str = "hostile", sender: str | None = None,
          extra: str = "") -> bytes:
    sender = sender or f"hostile{n}@example.com"
    return (f"From: {sender}\r\nTo: desk@example.org\r\nSubject: {subject}\r\n"
            f"Message-ID: <hostile-{n}@example.com>\r\nDate: Sat, 28 Nov 2026 10:00:00 +0100\r\n"
            f"MIME-Version: 1.0\r\n{extra}").encode()


def nested_multipart(n: int, depth: int = 1000) -> bytes:
    opening = b"".join(
        f'--b{i}\r\nContent-Type: multipart/mixed; boundary="b{i + 1}"\r\n\r\n'.encode()
        for i in range(depth))
    closing = b"".join(f"\r\n--b{i}--\r\n".encode() for i in reversed(range(depth + 1)))
    inner = f"--b{depth}\r\nContent-Type: text/plain\r\n\r\ndeep inside\r\n".encode()
    return (_head(n, "1000 nested multiparts", extra='Content-Type: multipart/mixed; boundary="b0"\r\n')
            + b"\r\n" + opening + inner + closing)


def nested_rfc822(n: int, depth: int = 1000) -> bytes:
    body = b"From: x@example.com\r\nSubject: innermost\r\n\r\nbottom\r\n"
    for i in range(depth):
        body = (f"From: fw{i}@example.com\r\nSubject: Fwd {i}\r\n"
                "Content-Type: message/rfc822\r\n\r\n").encode() + body
    return _head(n, "1000 nested forwards", extra="Content-Type: message/rfc822\r\n") + b"\r\n" + body


def big_attachment(n: int, megabytes: int = 50) -> bytes:
    chunk = base64.encodebytes(bytes(range(256)) * 3).replace(b"\n", b"\r\n")  # 768 bytes a chunk
    data = chunk * (megabytes * 1024 * 1024 // 768)
    return (_head(n, "50 MB attachment", extra='Content-Type: multipart/mixed; boundary="big"\r\n')
            + b"\r\n--big\r\nContent-Type: text/plain\r\n\r\nSee the attached dump.\r\n"
            + b'--big\r\nContent-Type: application/octet-stream; name="dump.bin"\r\n'
            + b"Content-Transfer-Encoding: base64\r\n"
            + b'Content-Disposition: attachment; filename="dump.bin"\r\n\r\n'
            + data + b"\r\n--big--\r\n")


def header_flood(n: int, lines: int = 10_000) -> bytes:
    flood = "".join(f"X-Filler-{i}: {'v' * 40}\r\n" for i in range(lines))
    return _head(n, "10,000 header lines", extra=flood) + b"\r\nbody after the flood\r\n"


def nul_bytes(n: int) -> bytes:
    return (_head(n, "NUL\x00in subject", extra="X-Nul: a\x00b\r\n")
            + b"\r\nbody\x00with\x00NULs\x00\r\n")


def bad_transfer_encodings(n: int) -> bytes:
    return (_head(n, "invalid base64 and quoted-printable",
                  extra='Content-Type: multipart/mixed; boundary="e"\r\n')
            + b"\r\n--e\r\nContent-Type: text/plain; charset=utf-8\r\n"
            + b"Content-Transfer-Encoding: base64\r\n\r\n!!!not*base64***=\r\nQUJD=\r\nQQ\r\n"
            + b"--e\r\nContent-Type: text/plain; charset=utf-8\r\n"
            + b"Content-Transfer-Encoding: quoted-printable\r\n\r\nbroken =ZZ =\r\n=E\r\n=C3=\r\n"
            + b"--e\r\nContent-Type: text/html\r\nContent-Transfer-Encoding: x-unknown\r\n\r\n"
            + b"<p>unknown encoding\r\n--e--\r\n")


def bogus_charsets(n: int) -> bytes:
    return (_head(n, "=?x-bogus-zz?q?caf=E9?= =?utf-8?b?!!!?= =?unknown-8bit?q?=FF?=",
                  extra='Content-Type: multipart/mixed; boundary="c"\r\n')
            + b"\r\n--c\r\nContent-Type: text/plain; charset=x-bogus-zz\r\n\r\ncaf\xe9\r\n"
            + b"--c\r\nContent-Type: text/plain\r\n\r\nno charset \xc3\xa1 \xff\xfe\r\n"
            + b'--c\r\nContent-Type: text/plain; charset="utf-8"\r\n\r\nlatin-1 \xf1 in utf-8\r\n'
            + b'--c\r\nContent-Type: text/plain; charset=""\r\n\r\nempty charset\r\n--c--\r\n')


def no_identity(n: int) -> bytes:
    """No Message-ID, no Date, no From."""
    return b"To: desk@example.org\r\nSubject: nobody sent this\r\n\r\nwho am I\r\n"


def doubled_identity(n: int) -> bytes:
    return (f"From: first{n}@example.com\r\nFrom: second{n}@example.com\r\n"
            "To: desk@example.org\r\nSubject: two of everything\r\n"
            f"Message-ID: <dup-a-{n}@example.com>\r\nMessage-ID: <dup-b-{n}@example.com>\r\n"
            "Date: Sat, 28 Nov 2026 10:00:00 +0100\r\nDate: not a date at all\r\n"
            "\r\ntwice\r\n").encode()


def from_crlf_tricks(n: int) -> bytes:
    sender = (f"=?utf-8?q?Evil=0D=0ABcc:_{VICTIM.replace('@', '=40')}=0D=0AX-Evil:_1?= "
              f"<evil{n}@example.com>")
    return _head(n, "=?utf-8?q?hi=0D=0ABcc:_victim=40example.net?=", sender=sender) + b"\r\nhi\r\n"


def from_encoded_address(n: int) -> bytes:
    """The whole address hidden in an encoded word: there is nobody to answer."""
    return _head(n, "encoded address", sender=f"=?utf-8?q?{VICTIM.replace('@', '=40')}?=") + b"\r\nx\r\n"


def huge_subject(n: int, size: int = 100 * 1024) -> bytes:
    return _head(n, "S" * size) + b"\r\nlong subject\r\n"


def jinja_syntax(n: int) -> bytes:
    return _head(n, JINJA_SUBJECT) + b"\r\n" + JINJA_BODY.encode() + b"\r\n"


def unterminated_multipart(n: int) -> bytes:
    return (_head(n, "no closing boundary", extra='Content-Type: multipart/mixed; boundary="never"\r\n')
            + b"\r\n--never\r\nContent-Type: text/plain\r\n\r\nstarts fine" + b" and goes on" * 1000)


def many_parts(n: int, parts: int = 10_000) -> bytes:
    body = b"".join(b"--m\r\nContent-Type: text/plain\r\n\r\npart\r\n" for _ in range(parts))
    return (_head(n, "10,000 parts", extra='Content-Type: multipart/mixed; boundary="m"\r\n')
            + b"\r\n" + body + b"--m--\r\n")


def endless_header_line(n: int) -> bytes:
    return _head(n, "one header line of 1 MB", extra=f"X-Long: {'x' * 1024 * 1024}\r\n") + b"\r\nx\r\n"


def message_id_8bit(n: int) -> bytes:
    """A raw 8-bit byte in the Message-ID: once enough to wedge the whole fetch batch."""
    return (f"From: eightbit{n}@example.com\r\nTo: desk@example.org\r\nSubject: 8-bit id\r\n"
            ).encode() + f"Message-ID: <\x80id-{n}@example.com>\r\n\r\nbody\r\n".encode("latin-1")


def message_id_huge(n: int) -> bytes:
    return _head(n, "2,000-character Message-ID").replace(
        f"<hostile-{n}@example.com>".encode(), f"<{'x' * 2000}-{n}@example.com>".encode()) + b"\r\nx\r\n"


HOSTILE: dict[str, Callable[[int], bytes]] = {
    "nested_multipart_1000": nested_multipart,
    "nested_rfc822_1000": nested_rfc822,
    "attachment_50mb": big_attachment,
    "header_lines_10000": header_flood,
    "nul_bytes": nul_bytes,
    "bad_base64_qp": bad_transfer_encodings,
    "bogus_charsets": bogus_charsets,
    "no_id_date_from": no_identity,
    "doubled_id_date_from": doubled_identity,
    "from_crlf_tricks": from_crlf_tricks,
    "from_encoded_address": from_encoded_address,
    "subject_100kb": huge_subject,
    "jinja_syntax": jinja_syntax,
    "unterminated_multipart": unterminated_multipart,
    "parts_10000": many_parts,
    "header_line_1mb": endless_header_line,
    "message_id_8bit": message_id_8bit,
    "message_id_2000": message_id_huge,
}
