"""The configuration: TOML read once at start into frozen objects.

Lookup order: `--config PATH`, else `$TRIAJE_CONFIG`, else `./triaje.toml`. Secrets are
never stored here, only where to find them (`password_env`, `password_file`, ...), so the
config object can be printed and logged safely.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import unquote, urlsplit

from pipeline.config import outbound as config_outbound
from pipeline.config import tracking as config_tracking
from pipeline.config import web as config_web
from pipeline.config.reader import Table, build
from pipeline.errors import ConfigError

DEFAULT_PATH = "triaje.toml"
SPANISH_REGISTERS = ("mirror", "tu", "usted")


@dataclass(frozen=True)
class Credentials:
    """Where a secret lives; `pipeline.config.secrets` reads it when a connection needs it."""

    password_env: str | None = None
    password_file: str | None = None
    oauth2_token_env: str | None = None
    oauth2_token_command: str | None = None

    @property
    def is_oauth2(self) -> bool:
        return bool(self.oauth2_token_env or self.oauth2_token_command)


@dataclass(frozen=True)
class MailboxConfig:
    name: str
    url: str
    scheme: str  # imap, imaps or maildir
    host: str
    port: int
    username: str
    folder: str
    path: str  # maildir folder path, empty for IMAP
    credentials: Credentials
    ca_file: str | None = None
    starttls: bool = False
    processed_folder: str | None = None
    flag_keyword: str = "$TriajeProcessed"
    start: str = "now"
    poll_interval: int = 60
    idle: bool = True
    batch_size: int = 200
    timeout: float = 30.0

    @property
    def is_maildir(self) -> bool:
        return self.scheme == "maildir"


@dataclass(frozen=True)
class DeskConfig:
    ticket_prefix: str = "SD"
    addresses: tuple[str, ...] = ()
    default_language: str = "es"
    timezone: str = "Europe/Madrid"
    max_message_bytes: int = 25 * 1024 * 1024
    sender_limit: int = 10
    sender_window: int = 3600
    spanish_register: str = "mirror"  # usted or tú in Spanish mail: mirror the writer, or fixed


@dataclass(frozen=True)
class ClassifierConfig:
    models_dir: str = "models"
    target_precision: float = 0.90


@dataclass(frozen=True)
class DaemonConfig:
    workers: int | None = None  # processing workers of `triaje run`; None: one per core


@dataclass(frozen=True)
class Config:
    database_url: str
    mailboxes: tuple[MailboxConfig, ...]
    desk: DeskConfig = field(default_factory=DeskConfig)
    classifier: ClassifierConfig = field(default_factory=ClassifierConfig)
    outbound: config_outbound.OutboundConfig = field(
        default_factory=config_outbound.OutboundConfig)
    source: str | None = None
    tracking: config_tracking.TrackingConfig = field(
        default_factory=config_tracking.TrackingConfig)
    web: config_web.WebConfig = field(default_factory=config_web.WebConfig)
    metrics: config_web.MetricsConfig = field(default_factory=config_web.MetricsConfig)
    daemon: DaemonConfig = field(default_factory=DaemonConfig)

    def mailbox(self, name: str) -> MailboxConfig:
        for mailbox in self.mailboxes:
            if mailbox.name == name:
                return mailbox
        raise ConfigError("mailboxes", f"has no mailbox named {name!r}",
                          "use one of: " + ", ".join(m.name for m in self.mailboxes), self.source)


def resolve_path(explicit: str | None) -> Path:
    """Pick the config file by the documented lookup order."""
    return Path(explicit or os.environ.get("TRIAJE_CONFIG") or DEFAULT_PATH)


def load(explicit: str | None = None) -> Config:
    path = resolve_path(explicit)
    if not path.is_file():
        raise ConfigError("-", f"config file {path} does not exist",
                          "pass --config PATH, set $TRIAJE_CONFIG, or create ./triaje.toml "
                          "(see examples/triaje.toml)")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError("-", f"is not valid TOML ({exc})", "correct the syntax at that line",
                          str(path)) from exc
    return from_dict(data, str(path), base=path.parent)


def from_dict(data: dict, source: str | None = None, base: Path | None = None) -> Config:
    root = Table(data, "", source)
    database = build(root.table("database"), _database)
    mailboxes = tuple(build(t, lambda t: _mailbox(t, base)) for t in root.tables("mailboxes"))
    _check_unique_names(mailboxes, source)
    desk = build(root.table("desk"), _desk)
    classifier = build(root.table("classifier"), _classifier)
    outbound = _with_desk(config_outbound.from_root(root), desk)
    tracking = config_tracking.from_root(root)
    web, metrics = config_web.from_root(root)
    daemon = build(root.table("daemon"), _daemon)
    root.finish()
    return Config(database, mailboxes, desk, classifier, outbound, source, tracking=tracking,
                  web=web, metrics=metrics, daemon=daemon)


def _with_desk(outbound: config_outbound.OutboundConfig,
               desk: DeskConfig) -> config_outbound.OutboundConfig:
    """The desk's own addresses are never answered, whichever table named them; the desk's
    Spanish register is a matter of how mail is written."""
    merged = tuple(dict.fromkeys((*outbound.outbox.own_addresses, *desk.addresses)))
    return replace(outbound, outbox=replace(outbound.outbox, own_addresses=merged),
                   templates=replace(outbound.templates, spanish_register=desk.spanish_register))


def _database(t: Table) -> str:
    url = t.str("url", "sqlite:///triaje.db")
    if "://" not in url:
        raise t.error("url", f"is not a database URL: {url!r}",
                      'use "sqlite:///triaje.db" or "postgresql+psycopg://user@host/db"')
    return url


def _desk(t: Table) -> DeskConfig:
    d = DeskConfig()
    return DeskConfig(
        ticket_prefix=t.str("ticket_prefix", d.ticket_prefix),
        addresses=tuple(a.lower() for a in t.strings("addresses", d.addresses)),
        default_language=t.str("default_language", d.default_language),
        timezone=t.timezone("timezone", d.timezone),
        max_message_bytes=t.int("max_message_bytes", d.max_message_bytes, minimum=1024),
        sender_limit=t.int("sender_limit", d.sender_limit, minimum=1),
        sender_window=t.int("sender_window", d.sender_window, minimum=1),
        spanish_register=_register(t, d.spanish_register),
    )


def _register(t: Table, default: str) -> str:
    value = t.str("spanish_register", default).strip().lower().replace("ú", "u")
    if value not in SPANISH_REGISTERS:
        raise t.error("spanish_register", f"is not a register: {value!r}",
                      'use "mirror" (answer as the writer wrote), "tu" or "usted"')
    return value


def _classifier(t: Table) -> ClassifierConfig:
    d = ClassifierConfig()
    return ClassifierConfig(
        models_dir=t.str("models_dir", d.models_dir),
        target_precision=t.float("target_precision", d.target_precision, 0.5, 1.0),
    )


def _daemon(t: Table) -> DaemonConfig:
    return DaemonConfig(workers=t.int("workers", None, minimum=1))


def _check_unique_names(mailboxes: tuple[MailboxConfig, ...], source: str | None) -> None:
    names = [m.name for m in mailboxes]
    for name in names:
        if names.count(name) > 1:
            raise ConfigError("mailboxes.name", f"{name!r} is used twice",
                              "give every [[mailboxes]] entry its own name", source)


def _mailbox(t: Table, base: Path | None) -> MailboxConfig:
    name = t.str("name")
    url = t.str("url")
    parts = urlsplit(url)
    if parts.scheme == "maildir":
        return _maildir_mailbox(t, name, url, parts.path, base)
    if parts.scheme not in ("imap", "imaps"):
        raise t.error("url", f"has an unsupported scheme {parts.scheme!r}",
                      'use "imaps://user@host/INBOX", "imap://user@host:143/INBOX" or '
                      '"maildir:///var/mail/desk"')
    if parts.password:
        raise t.error("url", "contains a password",
                      "remove it from the URL and use password_env or password_file")
    if not parts.username or not parts.hostname:
        raise t.error("url", "needs a user and a host", 'write "imaps://desk@mail.example.org/INBOX"')
    return _imap_mailbox(t, name, url, parts)


def _imap_mailbox(t: Table, name: str, url: str, parts) -> MailboxConfig:
    d = MailboxConfig("", "", "", "", 0, "", "", "", Credentials())
    scheme = parts.scheme
    return MailboxConfig(
        name=name, url=url, scheme=scheme, host=parts.hostname,
        port=parts.port or (993 if scheme == "imaps" else 143),
        username=unquote(parts.username), folder=unquote(parts.path.lstrip("/")) or "INBOX",
        path="", credentials=_credentials(t), ca_file=_existing_file(t, "ca_file"),
        starttls=t.bool("starttls", d.starttls),
        processed_folder=t.str("processed_folder", None),
        flag_keyword=t.str("flag_keyword", d.flag_keyword),
        start=t.choice("start", ("now", "all"), d.start),
        poll_interval=t.int("poll_interval", d.poll_interval, minimum=1),
        idle=t.bool("idle", d.idle),
        batch_size=t.int("batch_size", d.batch_size, minimum=1),
        timeout=t.float("timeout", d.timeout, 1.0, 3600.0),
    )


def _maildir_mailbox(t: Table, name: str, url: str, path: str, base: Path | None) -> MailboxConfig:
    folder = Path(unquote(path))
    if not folder.is_absolute() and base is not None:
        folder = base / folder
    d = MailboxConfig("", "", "", "", 0, "", "", "", Credentials())
    return MailboxConfig(
        name=name, url=url, scheme="maildir", host="", port=0, username="", folder="",
        path=str(folder), credentials=Credentials(),
        start=t.choice("start", ("now", "all"), "all"),
        poll_interval=t.int("poll_interval", d.poll_interval, minimum=1),
        idle=t.bool("idle", False), batch_size=t.int("batch_size", d.batch_size, minimum=1),
    )


def _existing_file(t: Table, key: str) -> str | None:
    value = t.str(key, None)
    if value is not None and not Path(value).is_file():
        raise t.error(key, f"names a file that does not exist: {value}", "give the full path of the file")
    return value


def _credentials(t: Table) -> Credentials:
    creds = Credentials(
        password_env=t.str("password_env", None),
        password_file=t.str("password_file", None),
        oauth2_token_env=t.str("oauth2_token_env", None),
        oauth2_token_command=t.str("oauth2_token_command", None),
    )
    given = [k for k, v in vars(creds).items() if v]
    if len(given) != 1:
        raise t.error("password_env", f"exactly one secret source is needed, found {len(given)}",
                      "set one of password_env, password_file, oauth2_token_env or "
                      "oauth2_token_command")
    return creds
