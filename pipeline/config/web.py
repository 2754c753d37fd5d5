"""Config sections [web] (the review desk) and [metrics] (the daemon's /healthz, /metrics).

Both are optional. Without [metrics] the daemon serves nothing; without [web] the desk
listens on loopback only, so mail never reaches a network by default: put a reverse proxy
with TLS in front to serve it further (README, "The web desk").
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from pipeline.config.reader import Table, build

DEFAULT_WEB_LISTEN = "127.0.0.1:8025"


@dataclass(frozen=True)
class WebConfig:
    listen: str = DEFAULT_WEB_LISTEN
    trusted_proxy_header: str | None = None  # e.g. "X-Remote-User", set by an SSO proxy
    trusted_proxies: tuple[str, ...] = ()  # the only addresses whose header is believed
    session_hours: int = 12  # a session unused this long ends
    login_attempts: int = 5  # failed logins per user and per address within login_window
    login_window: int = 900  # seconds

    @property
    def host(self) -> str:
        return split_listen(self.listen)[0]

    @property
    def port(self) -> int:
        return split_listen(self.listen)[1]


@dataclass(frozen=True)
class MetricsConfig:
    listen: str | None = None  # "127.0.0.1:9325"; None: no endpoints


def split_listen(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    return host.strip("[]"), int(port)


def from_root(root: Table) -> tuple[WebConfig, MetricsConfig]:
    return build(root.table("web"), _web), build(root.table("metrics"), _metrics)


def _web(t: Table) -> WebConfig:
    d = WebConfig()
    header = t.str("trusted_proxy_header", None)
    proxies = tuple(t.strings("trusted_proxies", ()))
    for proxy in proxies:
        _address(t, "trusted_proxies", proxy)
    if header and not proxies:
        raise t.error("trusted_proxies", "is empty while trusted_proxy_header is set",
                      'name the reverse proxy\'s address: trusted_proxies = ["127.0.0.1"]')
    return WebConfig(
        listen=_listen(t, "listen", d.listen), trusted_proxy_header=header,
        trusted_proxies=proxies, session_hours=t.int("session_hours", d.session_hours, minimum=1),
        login_attempts=t.int("login_attempts", d.login_attempts, minimum=1),
        login_window=t.int("login_window", d.login_window, minimum=1))


def _metrics(t: Table) -> MetricsConfig:
    value = t.str("listen", None)
    return MetricsConfig(listen=None if value is None else _listen(t, "listen", value))


def _listen(t: Table, key: str, default: str) -> str:
    value = t.str(key, default)
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise t.error(key, f"is not HOST:PORT: {value!r}", f'write {key} = "127.0.0.1:8025"')
    return value


def _address(t: Table, key: str, value: str) -> None:
    try:
        ipaddress.ip_address(value)
    except ValueError as exc:
        raise t.error(key, f"holds something that is not an IP address: {value!r}",
                      f'write {key} = ["127.0.0.1"]') from exc
