"""A tiny mail world for loop tests: the SMTP receiver delivers what it gets into Dovecot
mailboxes, and some addresses answer everything like a badly configured autoresponder
(no RFC 3834 headers, a fresh Message-ID, no In-Reply-To) or bounce like an MTA."""

from __future__ import annotations

import email
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage, Message
from email.mime.base import MIMEBase
from email.mime.message import MIMEMessage
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import make_msgid, parseaddr

from dovecot import Dovecot

from chaos.harness import CountingRecorder, counting_receiver, imap_client

STRIPPED = ("Auto-Submitted", "X-Auto-Response-Suppress", "Precedence", "In-Reply-To",
            "References", "X-Triaje-Ticket")


@dataclass
class Exchange:
    """One mail that travelled in this world: who to whom, and what kind."""

    sender: str
    recipient: str
    kind: str  # smtp (sent by a daemon), reply (an autoresponder), bounce
    subject: str
    at: float


def vacation_reply(msg: EmailMessage, me: str, keep_subject: bool = True) -> EmailMessage:
    """What a badly configured out-of-office sends: no Auto-Submitted, no threading."""
    reply = EmailMessage()
    reply["From"] = me
    reply["To"] = parseaddr(str(msg.get("Reply-To") or msg.get("From") or ""))[1]
    subject = str(msg.get("Subject", "")) if keep_subject else ""
    reply["Subject"] = f"Out of office: {subject}" if subject else "I am out of the office"
    reply["Message-ID"] = make_msgid(domain=me.split("@")[1])
    reply.set_content("I am away until Monday and will answer when I am back.")
    return reply


def bounce(msg: EmailMessage, original: bytes, rcpt: str) -> Message:
    """A DSN from MAILER-DAEMON (multipart/report, RFC 3464), as Postfix would send it."""
    dsn = MIMEMultipart("report", report_type="delivery-status")
    dsn["From"] = "MAILER-DAEMON@mx.example.net (Mail Delivery System)"
    dsn["To"] = parseaddr(str(msg.get("From") or ""))[1]
    dsn["Subject"] = "Undelivered Mail Returned to Sender"
    dsn["Message-ID"] = make_msgid(domain="mx.example.net")
    dsn.attach(MIMEText(f"<{rcpt}>: user unknown\n"))
    status = Message()
    status["Final-Recipient"] = f"rfc822; {rcpt}"
    status["Action"] = "failed"
    status["Status"] = "5.1.1"
    report = MIMEBase("message", "delivery-status")
    report.set_payload([status])
    dsn.attach(report)
    dsn.attach(MIMEMessage(email.message_from_bytes(original, policy=policy.compat32)))
    return dsn


class MailWorld:
    """Routes every accepted mail: into a mailbox, to a responder, or nowhere."""

    def __init__(self, server: Dovecot, strip_auto_headers: bool = False) -> None:
        self.server = server
        self.strip = strip_auto_headers
        self.mailboxes: dict[str, str] = {}  # address -> Dovecot user
        self.responders: dict[str, Callable[[EmailMessage, bytes, str], EmailMessage | None]] = {}
        self.log: list[Exchange] = []
        self.errors: list[str] = []  # a world that broke is no proof that a loop stopped
        self.lock = threading.Lock()
        self.work: queue.Queue = queue.Queue()
        self.receiver = counting_receiver()
        recorder: CountingRecorder = self.receiver.recorder
        recorder.on_message = lambda data, rcpts: self.work.put((data, rcpts, "smtp"))
        self.thread = threading.Thread(target=self._run, name="mailworld", daemon=True)
        self.stopped = threading.Event()

    def start(self) -> MailWorld:
        self.receiver.start()
        self.thread.start()
        return self

    def stop(self) -> None:
        self.stopped.set()
        self.work.put(None)
        self.thread.join(timeout=10)
        self.receiver.stop()

    def inject(self, raw: bytes, rcpt: str, kind: str = "start") -> None:
        """A mail from outside the world (how a loop starts)."""
        self.work.put((raw, [rcpt], kind))

    def count(self, kind: str | None = None) -> int:
        with self.lock:
            return sum(1 for e in self.log if kind is None or e.kind == kind)

    def last_at(self) -> float:
        with self.lock:
            return self.log[-1].at if self.log else 0.0

    def _run(self) -> None:
        while not self.stopped.is_set():
            item = self.work.get()
            if item is None:
                return
            data, rcpts, kind = item
            for rcpt in rcpts:
                try:
                    self._deliver(data, rcpt.lower(), kind)
                except Exception as exc:
                    self.errors.append(f"{type(exc).__name__}: {exc}")

    def _deliver(self, data: bytes, rcpt: str, kind: str) -> None:
        msg = email.message_from_bytes(data, policy=policy.default)
        with self.lock:
            self.log.append(Exchange(parseaddr(str(msg.get("From") or ""))[1], rcpt, kind,
                                     str(msg.get("Subject", "")), time.monotonic()))
        if rcpt in self.responders:
            answer = self.responders[rcpt](msg, data, rcpt)
            if answer is not None:
                self.work.put((answer.as_bytes(), [str(answer["To"]).lower()], _kind(answer)))
        if rcpt in self.mailboxes:
            if self.strip:
                for name in STRIPPED:
                    del msg[name]
                data = bytes(msg)
            with imap_client(self.server, self.mailboxes[rcpt]) as client:
                client.append("INBOX", data)


def _kind(msg: Message) -> str:
    return "bounce" if msg.get_content_type() == "multipart/report" else "reply"


def quiet_for(world: MailWorld, seconds: float, limit: int, timeout: float) -> bool:
    """Wait until nothing travelled for `seconds`; False when `limit` mails went by or
    `timeout` passed first (the loop did not stop on its own)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if world.count() >= limit:
            return False
        if world.count() and time.monotonic() - world.last_at() >= seconds:
            return True
        time.sleep(0.2)
    return False
