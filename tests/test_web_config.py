"""[web] and [metrics]: defaults, and every mistake named with its key and its fix."""

from __future__ import annotations

import socket

import pytest
from helpers import build_env

from pipeline import config as configmod
from pipeline.errors import ConfigError
from pipeline.monitor.server import MonitorServer

BASE = {"database": {"url": "sqlite:///:memory:"}}


def load(**sections) -> configmod.Config:
    return configmod.from_dict({**BASE, **sections}, "t.toml")


def test_defaults_bind_the_desk_to_loopback_and_serve_no_metrics():
    cfg = load()
    assert cfg.web.listen == "127.0.0.1:8025" and (cfg.web.host, cfg.web.port) == ("127.0.0.1", 8025)
    assert cfg.metrics.listen is None and cfg.web.trusted_proxy_header is None


@pytest.mark.parametrize(("sections", "key", "words"), [
    ({"web": {"lisen": "127.0.0.1:8025"}}, "web.lisen", "is not a known setting"),
    ({"metrics": {"port": 9325}}, "metrics.port", "is not a known setting"),
    ({"web": {"listen": "8025"}}, "web.listen", "is not HOST:PORT"),
    ({"metrics": {"listen": "localhost:99999"}}, "metrics.listen", "is not HOST:PORT"),
    ({"web": {"trusted_proxy_header": "X-Remote-User"}}, "web.trusted_proxies", "is empty"),
    ({"web": {"trusted_proxies": ["proxy.example.org"]}}, "web.trusted_proxies", "not an IP address"),
    ({"web": {"login_attempts": 0}}, "web.login_attempts", "at least 1"),
])
def test_mistakes_name_the_key(sections, key, words):
    with pytest.raises(ConfigError) as caught:
        load(**sections)
    assert caught.value.key == key and words in str(caught.value) and "t.toml" in str(caught.value)


def test_a_metrics_port_in_use_is_a_clear_error(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = build_env({"database": {"url": f"sqlite:///{tmp_path / 't.db'}"},
                         "metrics": {"listen": f"127.0.0.1:{port}"}})
        with pytest.raises(ConfigError) as caught:
            MonitorServer(env.engine, env.config)
    assert caught.value.key == "metrics.listen" and f"127.0.0.1:{port}" in str(caught.value)
