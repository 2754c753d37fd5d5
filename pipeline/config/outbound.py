"""Config sections for outgoing mail: [smtp], [routing], [service_levels], [templates], [outbox],
[complaints].

Every section is optional, so a config without outgoing mail still loads. Without
`[smtp] url` there is no server: mail goes to `[outbox] directory` as .eml files if that
is set, else it waits in the outbox. `[smtp] from` names the sender either way (`[outbox]
from` may stand in when there is no [smtp] table). Without [routing] no routing mail is
composed. Passwords are never read here, only where to find them.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from pipeline import vocabulary
from pipeline.addresses import domain_of, is_address, normalise, split_header
from pipeline.config import servicelevels
from pipeline.config.reader import Table, build
from pipeline.config.servicelevels import Duration, ServiceLevels, parse_duration
from pipeline.vocabulary import HEADS

DEFAULT_FROM = "Mesa de servicio <desk@localhost>"
DEFAULT_PASSWORD_ENV = "TRIAJE_SMTP_PASSWORD"  # when username is set and no source is named
SERVER_KEYS = ("starttls", "username", "password_env", "password_file", "ca_file", "timeout")
RULE_KEYS = ("type", "priority", "queue", "sender_domain", "sender", "mailbox")


@dataclass(frozen=True)
class Identity:
    """Who our mail comes from: the From header and the Reply-To address."""

    from_name: str = "Mesa de servicio"
    from_address: str = "desk@localhost"
    reply_to: str = "desk@localhost"


@dataclass(frozen=True)
class SmtpConfig:
    url: str
    scheme: str  # smtp or smtps
    host: str
    port: int
    ehlo_name: str  # the domain of our From address
    starttls: bool = False
    username: str | None = None
    password_env: str | None = None
    password_file: str | None = None
    ca_file: str | None = None
    timeout: float = 30.0


@dataclass(frozen=True)
class Rule:
    """One [[routing.rules]] entry; a field left as None matches anything."""

    name: str | None  # the name a person gave it; else it is described by its conditions
    to: tuple[str, ...]
    key: str = ""  # where it is in the config: routing.rules[0]
    type: tuple[str, ...] | None = None
    priority: tuple[str, ...] | None = None
    queue: tuple[str, ...] | None = None
    sender_domain: tuple[str, ...] | None = None
    sender: tuple[str, ...] | None = None
    mailbox: tuple[str, ...] | None = None


@dataclass(frozen=True)
class RoutingConfig:
    default: tuple[str, ...] = ()
    triage: tuple[str, ...] = ()
    rules: tuple[Rule, ...] = ()
    triage_on: tuple[str, ...] | None = None  # heads whose doubt means triage; None: all
    languages: tuple[tuple[str, str], ...] = ()  # (address, language) of teams that read
    # another language than the desk's

    def language_of(self, address: str, default: str) -> str:
        return dict(self.languages).get(normalise(address), default)


@dataclass(frozen=True)
class TemplatesConfig:
    directory: str | None = None
    default_language: str = "es"
    spanish_register: str = "mirror"  # from [desk]: mirror, tu or usted


@dataclass(frozen=True)
class ComplaintsConfig:
    """Complaints get a named person, their own promise and, optionally, an owner who sees
    every one of them (the routing mail also goes there)."""

    owner: tuple[str, ...] = ()
    role: tuple[tuple[str, str], ...] = (
        ("es", "la persona responsable del servicio"), ("en", "the person responsible for the service"))
    first_response: Duration = field(default_factory=lambda: parse_duration("1d"))

    def role_in(self, language: str) -> str:
        roles = dict(self.role)
        return roles.get(language) or roles.get("en") or next(iter(roles.values()), "")


@dataclass(frozen=True)
class OutboxConfig:
    directory: str | None = None
    own_addresses: tuple[str, ...] = ()
    recipient_limit: int = 5
    recipient_window: int = 3600
    followup_note: bool = False
    forward_automatic: bool = False
    retry_base: int = 30
    retry_max: int = 3600
    lease: int = 30  # seconds a claimed row is left alone, renewed while it is sent;
    # a sender that dies mid-send leaves its mail to another daemon after this long


@dataclass(frozen=True)
class OutboundConfig:
    smtp: SmtpConfig | None = None  # None: no server; mail goes to [outbox] directory, if set
    identity: Identity = field(default_factory=Identity)
    max_attempts: int = 8
    routing: RoutingConfig = field(default_factory=RoutingConfig)
    service_levels: ServiceLevels = field(default_factory=ServiceLevels)
    templates: TemplatesConfig = field(default_factory=TemplatesConfig)
    outbox: OutboxConfig = field(default_factory=OutboxConfig)
    complaints: ComplaintsConfig = field(default_factory=ComplaintsConfig)

    @property
    def from_name(self) -> str:
        return self.identity.from_name

    @property
    def from_address(self) -> str:
        return self.identity.from_address

    @property
    def reply_to(self) -> str:
        return self.identity.reply_to

    @property
    def own_addresses(self) -> frozenset[str]:
        """Addresses that must never get an ack: configured ones plus our From and Reply-To."""
        return frozenset({*self.outbox.own_addresses, self.from_address, self.reply_to})


def from_root(root: Table) -> OutboundConfig:
    base = Path(root.path).parent if root.path else None
    smtp_table, outbox_table = root.table("smtp"), root.table("outbox")
    identity = _identity(smtp_table, outbox_table)
    smtp = _smtp(smtp_table, base, identity) if "url" in smtp_table.data else None
    _check_server_keys(smtp_table)
    max_attempts = smtp_table.int("max_attempts", OutboundConfig.max_attempts, minimum=1)
    smtp_table.finish()
    return OutboundConfig(
        smtp=smtp, identity=identity, max_attempts=max_attempts,
        routing=build(root.table("routing"), _routing),
        service_levels=build(root.table("service_levels"), servicelevels.from_table),
        templates=build(root.table("templates"), lambda t: _templates(t, base)),
        outbox=build(outbox_table, lambda t: _outbox(t, base)),
        complaints=build(root.table("complaints"), _complaints),
    )


def _identity(smtp: Table, outbox: Table) -> Identity:
    """`[smtp] from` (required with a server), else `[outbox] from` for file-only setups."""
    if smtp.data and "from" in outbox.data:
        raise outbox.error("from", "is set while [smtp] exists", "write `from` in [smtp] only")
    source = smtp if smtp.data else outbox
    name, address = _mailbox_header(source, "from", None if "url" in smtp.data else DEFAULT_FROM)
    reply_to = _mailbox_header(smtp, "reply_to", address)[1]
    return Identity(name or Identity.from_name, address, reply_to)


def _check_server_keys(t: Table) -> None:
    for key in SERVER_KEYS:
        if key in t.data and "url" not in t.data:
            raise t.error("url", f"is required when {key} is set",
                          'add url = "smtp://mail.example.org:587" (or remove the server keys)')


def _smtp(t: Table, base: Path | None, identity: Identity) -> SmtpConfig:
    if "password" in t.data:
        raise t.error("password", "must never be written in the config",
                      "put it in an environment variable (password_env) or a file "
                      "(password_file) readable only by the daemon")
    url = t.str("url")
    parts = urlsplit(url)
    _check_smtp_url(t, url, parts)
    username = t.str("username", None)
    default_env = DEFAULT_PASSWORD_ENV if username and "password_file" not in t.data else None
    smtp = SmtpConfig(
        url=url, scheme=parts.scheme, host=parts.hostname or "",
        port=parts.port or (465 if parts.scheme == "smtps" else 25),
        ehlo_name=domain_of(identity.from_address),
        starttls=t.bool("starttls", False), username=username,
        password_env=t.str("password_env", default_env),
        password_file=_path(t, "password_file", base),
        ca_file=_existing_file(t, "ca_file", base),
        timeout=t.float("timeout", SmtpConfig.timeout, 1.0, 3600.0),
    )
    _check_smtp_security(t, smtp)
    return smtp


def _check_smtp_url(t: Table, url: str, parts) -> None:
    if parts.scheme not in ("smtp", "smtps"):
        raise t.error("url", f"has an unsupported scheme in {url!r}",
                      'use "smtp://host:587" (with starttls = true) or "smtps://host:465"')
    if parts.username or parts.password:
        raise t.error("url", "contains a user or a password",
                      "remove them from the URL; use username and password_env or password_file")
    if not parts.hostname or parts.path not in ("", "/"):
        raise t.error("url", f"needs a host and nothing after it: {url!r}",
                      'write "smtp://mail.example.org:587"')


def _check_smtp_security(t: Table, smtp: SmtpConfig) -> None:
    if smtp.starttls and smtp.scheme == "smtps":
        raise t.error("starttls", "makes no sense with smtps://, which is TLS from the start",
                      "remove starttls, or use smtp:// with starttls = true")
    if smtp.password_env and smtp.password_file:
        raise t.error("password_env", "and password_file are both set",
                      "keep one of them: the password comes from one place")
    if (smtp.password_env or smtp.password_file) and not smtp.username:
        raise t.error("username", "is missing although a password source is set",
                      'add username = "..." or remove the password source')
    plain = smtp.scheme == "smtp" and not smtp.starttls
    if smtp.username and plain and not _is_loopback(smtp.host):
        raise t.error("starttls", "is off, so the password would cross the network in clear",
                      "set starttls = true or use smtps://")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _mailbox_header(t: Table, key: str, default: str | None) -> tuple[str, str]:
    """A 'Name <address>' value, checked so it can go into a header and an envelope."""
    text = t.str(key) if default is None else t.str(key, default)
    name, address = split_header(text)
    if not is_address(address) or any(c in text for c in "\r\n"):
        raise t.error(key, f"is not a mail address: {text!r}",
                      f'write {key} = "Mesa de servicio <desk@example.org>"')
    return name, address



def _routing(t: Table) -> RoutingConfig:
    if not t.data:
        return RoutingConfig()
    default = t.addresses("default")
    if not default:
        raise t.error("default", "is required when [routing] is present",
                      'add default = "n1@example.org": where mail goes when no rule matches')
    rules = tuple(build(r, _rule) for r in t.tables("rules"))
    triage_on = t.strings("triage_on", None)
    if triage_on is not None:
        triage_on = tuple(h.strip().lower() for h in triage_on)
        unknown = [h for h in triage_on if h not in HEADS]
        if unknown:
            raise t.error("triage_on", f"names {unknown[0]!r}, which is not a head",
                          f"use some of {', '.join(HEADS)}")
    return RoutingConfig(default=default, triage=t.addresses("triage") or default, rules=rules,
                         triage_on=triage_on, languages=_languages(t))


def _languages(t: Table) -> tuple[tuple[str, str], ...]:
    """`languages = { "it-ops@example.com" = "en" }`: the language a team's mail is written in."""
    table = t.raw("languages", {})
    if not isinstance(table, dict) or not all(
            isinstance(k, str) and is_address(normalise(k)) and isinstance(v, str) and v.strip()
            for k, v in table.items()):
        raise t.error("languages", "must map team addresses to a language",
                      'write languages = { "it-ops@example.com" = "en" }')
    return tuple((normalise(k), v.strip().lower()) for k, v in table.items())


def _rule(t: Table) -> Rule:
    to = t.addresses("to")
    if not to:
        raise t.error("to", "is required", 'add to = ["team@example.org"] to the rule')
    matchers = {key: _matcher(t, key) for key in RULE_KEYS}
    return Rule(name=t.str("name", None), to=to, key=t.key, **matchers)


def _matcher(t: Table, key: str) -> tuple[str, ...] | None:
    """A rule's values as the router compares them; label words become codes through the
    vocabulary (`incidente`, `crítica`, `accesos`), so a Spanish rule matches."""
    values = t.strings(key, None)
    if values is None:
        return None
    if key == "mailbox":
        return values
    if key in HEADS:
        return tuple(vocabulary.resolve(key, v) or normalise(v) for v in values)
    return tuple(normalise(v).lstrip("@") if key == "sender_domain" else normalise(v)
                 for v in values)


def _complaints(t: Table) -> ComplaintsConfig:
    d = ComplaintsConfig()
    role = t.raw("role", None)
    if role is None:
        roles = d.role
    elif isinstance(role, str):
        roles = (("es", role), ("en", role))
    elif isinstance(role, dict) and role and all(isinstance(v, str) for v in role.values()):
        roles = tuple((str(k).lower(), v) for k, v in role.items())
    else:
        raise t.error("role", "must be a text, or one text per language",
                      'write role = { es = "la responsable de calidad", en = "our quality manager" }')
    text = t.str("first_response", None)
    try:
        first = parse_duration(text) if text is not None else d.first_response
    except ValueError as exc:
        raise t.error("first_response", f"is not a duration: {text!r}",
                      'write it as "4h", "1d" or "2d"') from exc
    return ComplaintsConfig(owner=t.addresses("owner"), role=roles, first_response=first)


def _templates(t: Table, base: Path | None) -> TemplatesConfig:
    directory = _path(t, "directory", base)
    if directory is not None and not Path(directory).is_dir():
        raise t.error("directory", f"is not a folder: {directory}",
                      "create it or give the full path of the folder with your templates")
    language = t.str("default_language", TemplatesConfig.default_language).lower()
    return TemplatesConfig(directory=directory, default_language=language)


def _outbox(t: Table, base: Path | None) -> OutboxConfig:
    d = OutboxConfig()
    retry_base = t.int("retry_base", d.retry_base, minimum=1)
    return OutboxConfig(
        directory=_path(t, "directory", base),
        own_addresses=t.addresses("own_addresses"),
        recipient_limit=t.int("recipient_limit", d.recipient_limit, minimum=1),
        recipient_window=t.int("recipient_window", d.recipient_window, minimum=1),
        followup_note=t.bool("followup_note", d.followup_note),
        forward_automatic=t.bool("forward_automatic", d.forward_automatic),
        retry_base=retry_base, retry_max=t.int("retry_max", d.retry_max, minimum=retry_base),
        lease=t.int("lease", d.lease, minimum=3),
    )


def _path(t: Table, key: str, base: Path | None) -> str | None:
    value = t.str(key, None)
    if value is None:
        return None
    path = Path(value).expanduser()
    if not path.is_absolute() and base is not None:
        path = base / path
    return str(path)


def _existing_file(t: Table, key: str, base: Path | None) -> str | None:
    value = _path(t, key, base)
    if value is not None and not Path(value).is_file():
        raise t.error(key, f"names a file that does not exist: {value}",
                      "give the full path of the file")
    return value
