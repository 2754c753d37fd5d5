"""SMTP delivery of finished message bytes: one connection reused for a batch.

Failures are sorted into two kinds the outbox cares about: the server cannot be reached or
will not let us in (stop this batch, retry later), or it refused one message (retry that
one later, or give it up at once when the refusal is permanent, a 5xx reply).
"""

from __future__ import annotations

import smtplib
import ssl

from pipeline.config import Credentials
from pipeline.config.outbound import SmtpConfig
from pipeline.config.secrets import read_secret
from pipeline.errors import DeliveryError, SecretError

MAX_ERROR = 500


class SendFailure(DeliveryError):
    """A mail was not accepted; `server` means nothing else will get through either."""

    def __init__(self, message: str, *, server: bool, permanent: bool = False) -> None:
        super().__init__(message[:MAX_ERROR])
        self.server, self.permanent = server, permanent


def read_password(cfg: SmtpConfig) -> str:
    """The SMTP password from its environment variable or file, registered for log redaction."""
    creds = Credentials(password_env=cfg.password_env, password_file=cfg.password_file)
    key = "smtp.password_file" if cfg.password_file else "smtp.password_env"
    return read_secret(creds, key)


class SmtpTransport:
    def __init__(self, cfg: SmtpConfig) -> None:
        self.cfg = cfg
        self.name = f"{cfg.scheme}://{cfg.host}:{cfg.port}"
        self._smtp: smtplib.SMTP | None = None

    def send(self, raw: bytes, sender: str, recipients: list[str], message_id: str,
             label: str | None = None) -> dict[str, str]:
        """Hand over the bytes as they are; returns the recipients the server refused.
        (`label` names a file for the file transport; SMTP has no use for it.)"""
        smtp = self._connection()
        options = ["BODY=8BITMIME"] if _is_8bit(raw) and smtp.has_extn("8bitmime") else []
        try:
            refused = smtp.sendmail(sender, recipients, raw, mail_options=options)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            raise SendFailure(f"all recipients refused: {_refusals(exc.recipients)}",
                              server=False, permanent=all(c >= 500 for c in codes)) from exc
        except smtplib.SMTPResponseException as exc:
            if exc.smtp_code == 421:  # the server is closing the channel: a server fault
                self.close()
            raise SendFailure(f"{exc.smtp_code} {_text(exc.smtp_error)}",
                              server=exc.smtp_code == 421, permanent=exc.smtp_code >= 500) from exc
        except (smtplib.SMTPException, OSError, UnicodeError) as exc:
            self.close()
            raise SendFailure(describe(exc), server=not isinstance(exc, UnicodeError),
                              permanent=isinstance(exc, UnicodeError)) from exc
        return {rcpt: f"{code} {_text(msg)}" for rcpt, (code, msg) in refused.items()}

    def _connection(self) -> smtplib.SMTP:
        if self._smtp is None:
            try:
                self._smtp = connect(self.cfg)
            except (smtplib.SMTPException, OSError, SecretError) as exc:
                raise SendFailure(describe(exc), server=True) from exc
        return self._smtp

    def close(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is None:
            return
        try:
            smtp.quit()
        except (smtplib.SMTPException, OSError):
            smtp.close()


def connect(cfg: SmtpConfig) -> smtplib.SMTP:
    """Connected, upgraded to TLS as configured (certificates verified), logged in."""
    context = ssl.create_default_context(cafile=cfg.ca_file)
    name = cfg.ehlo_name  # our mail domain; also avoids a slow getfqdn() lookup
    if cfg.scheme == "smtps":
        smtp: smtplib.SMTP = smtplib.SMTP_SSL(cfg.host, cfg.port, local_hostname=name,
                                              timeout=cfg.timeout, context=context)
    else:
        smtp = smtplib.SMTP(cfg.host, cfg.port, local_hostname=name, timeout=cfg.timeout)
    try:
        smtp.ehlo()
        if cfg.starttls:
            smtp.starttls(context=context)
            smtp.ehlo()
        if cfg.username:
            smtp.login(cfg.username, read_password(cfg))
    except BaseException:
        smtp.close()
        raise
    return smtp


def describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:MAX_ERROR]


def _is_8bit(raw: bytes) -> bool:
    return not raw.isascii()


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _refusals(refused: dict) -> str:
    return "; ".join(f"{rcpt}: {code} {_text(msg)}" for rcpt, (code, msg) in refused.items())
