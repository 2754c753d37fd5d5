"""Helpers for the web desk's tests: a desk over processed mail, users, a logged-in client."""

from __future__ import annotations

import warnings
from html.parser import HTMLParser

from pipeline.web import users
from pipeline.web.app import create_app

warnings.filterwarnings("ignore", message=".*httpx2.*")
from starlette.testclient import TestClient  # noqa: E402 - after the filter above

PASSWORDS = {"rita": "rita-password-1", "adam": "adam-password-1"}


class Fields(HTMLParser):
    """Values of the named inputs and the text of the page (stdlib parser)."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.values: dict[str, str] = {}
        self.text: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag, attrs) -> None:
        found = dict(attrs)
        if tag == "input" and found.get("name"):
            self.values.setdefault(found["name"], found.get("value") or "")

    def handle_data(self, data) -> None:
        self.text.append(data)


def add_users(env) -> None:
    users.add(env.engine, "rita", "reviewer", PASSWORDS["rita"])
    users.add(env.engine, "adam", "admin", PASSWORDS["adam"])


def client(env, app=None, **kwargs) -> TestClient:
    """A browser of its own; pass `app` to share one desk (its login limiter) with others."""
    return TestClient(app or create_app(env.config, env.engine), follow_redirects=False, **kwargs)


def login(web: TestClient, name: str, password: str | None = None, **headers):
    form = Fields(web.get("/login", headers=headers).text).values
    return web.post("/login", data={"username": name, "password": password or PASSWORDS[name],
                                    "csrf_token": form["csrf_token"], "next": "/review"},
                    headers=headers)


def csrf(web: TestClient, path: str = "/review") -> str:
    return Fields(web.get(path).text).values["csrf_token"]
