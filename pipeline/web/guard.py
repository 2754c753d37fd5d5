"""Who may see a page: a session (or the trusted proxy's user), the CSRF token on every
POST, and the admin role where a page asks for it."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from functools import wraps
from typing import Any
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from pipeline.web import sessions, users
from pipeline.web.desk import Desk
from pipeline.web.sessions import Session

# Pages are plain functions run in the thread pool: the database calls never block the loop.
Endpoint = Callable[[Request, Desk, Session, FormData | None], Response]


def desk_of(request: Request) -> Desk:
    return request.app.state.desk


def set_cookie(request: Request, response: Response, name: str, value: str, max_age: int) -> None:
    response.set_cookie(name, value, max_age=max_age, path="/", httponly=True, samesite="lax",
                        secure=request.url.scheme == "https")


def _from_proxy(request: Request, desk: Desk) -> str | None:
    """The proxy's user name, only from an address named in trusted_proxies."""
    cfg = desk.config.web
    if not cfg.trusted_proxy_header or request.client is None:
        return None
    if request.client.host not in cfg.trusted_proxies:
        return None
    return (request.headers.get(cfg.trusted_proxy_header) or "").strip() or None


def current(request: Request, desk: Desk) -> tuple[Session | None, str | None]:
    """The session, and a new cookie value when the proxy's user needed a new session."""
    session = sessions.lookup(desk.engine, request.cookies.get(sessions.COOKIE))
    proxied = _from_proxy(request, desk)
    if proxied is None or (session is not None and session.name == proxied):
        return session, None
    token, session = sessions.create(desk.engine, users.proxy_user(desk.engine, proxied),
                                     desk.config.web.session_hours)
    return session, token


def page(admin: bool = False) -> Callable[[Endpoint], Callable[[Request], Awaitable[Response]]]:
    def wrap(endpoint: Endpoint) -> Callable[[Request], Awaitable[Response]]:
        @wraps(endpoint)
        async def handler(request: Request) -> Response:
            desk = desk_of(request)
            session, token = await run_in_threadpool(current, request, desk)
            if session is None:
                if request.method != "GET":
                    return refuse(request, desk, None, "forbidden", 403)
                target = quote(request.url.path + (f"?{request.url.query}" if request.url.query else ""))
                return RedirectResponse(f"/login?next={target}", status_code=303)
            form = await request.form() if request.method == "POST" else None
            if form is not None and not _csrf_ok(form, session):
                return refuse(request, desk, session, "forbidden", 403)
            if admin and not session.is_admin:
                return refuse(request, desk, session, "admin_only", 403)
            response = await run_in_threadpool(endpoint, request, desk, session, form)
            if token is not None:
                set_cookie(request, response, sessions.COOKIE, token,
                           desk.config.web.session_hours * 3600)
            return response
        return handler
    return wrap


def _csrf_ok(form: Any, session: Session) -> bool:
    given = form.get("csrf_token")
    return isinstance(given, str) and secrets.compare_digest(given, session.csrf_token)


def refuse(request: Request, desk: Desk, session: Session | None, message: str,
           status: int) -> Response:
    return desk.page(request, "error.html.j2", session, status=status, message=message,
                     title={403: "forbidden", 404: "not_found"}.get(status, "bad_request"))
