"""/login and /logout. The form posts username, password and csrf_token; the token is
checked against a cookie set with the form (no session exists yet). A failure says the
same whether or not the user exists, and gives no session."""

from __future__ import annotations

import logging
import secrets

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from pipeline.web import sessions, users
from pipeline.web.desk import Desk
from pipeline.web.guard import current, desk_of, page, refuse, set_cookie
from pipeline.web.sessions import Session

log = logging.getLogger("triaje.web")
FORM_AGE = 3600


def _safe_next(target: str | None) -> str:
    """Only a path on this site: never an open redirect to another host."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/review"
    return target


def _form(request: Request, desk: Desk, status: int = 200, error: str | None = None) -> Response:
    token = secrets.token_urlsafe(32)
    response = desk.page(request, "login.html.j2", None, status=status, login_csrf=token,
                         error=error, next=_safe_next(request.query_params.get("next")))
    set_cookie(request, response, sessions.LOGIN_COOKIE, token, FORM_AGE)
    return response


async def login_form(request: Request) -> Response:
    desk = desk_of(request)
    session, token = await run_in_threadpool(current, request, desk)
    if session is not None:
        response = RedirectResponse(_safe_next(request.query_params.get("next")), status_code=303)
        if token is not None:
            set_cookie(request, response, sessions.COOKIE, token, desk.config.web.session_hours * 3600)
        return response
    return _form(request, desk)


async def login(request: Request) -> Response:
    desk = desk_of(request)
    form = await request.form()
    given, expected = form.get("csrf_token"), request.cookies.get(sessions.LOGIN_COOKIE)
    if not (isinstance(given, str) and expected and secrets.compare_digest(given, expected)):
        return refuse(request, desk, None, "forbidden", 403)
    name, password = str(form.get("username") or "").strip(), str(form.get("password") or "")
    address = request.client.host if request.client else "-"
    keys = (f"user:{name.lower()}", f"addr:{address}")
    if desk.limiter.blocked(*keys):
        log.warning("login refused for %r from %s: too many failures", name[:80], address)
        return _form(request, desk, 429, "too_many")
    user = await run_in_threadpool(users.authenticate, desk.engine, name, password) \
        if name and password else None
    if user is None:
        desk.limiter.failed(*keys)
        log.warning("failed login for %r from %s", name[:80], address)
        return _form(request, desk, 401, "bad_login")
    desk.limiter.succeeded(keys[0])
    token, _ = await run_in_threadpool(sessions.create, desk.engine, user, desk.config.web.session_hours)
    log.info("login: %s from %s", name, address)
    response = RedirectResponse(_safe_next(str(form.get("next") or "")), status_code=303)
    set_cookie(request, response, sessions.COOKIE, token, desk.config.web.session_hours * 3600)
    response.delete_cookie(sessions.LOGIN_COOKIE, path="/")
    return response


@page()
def logout(request: Request, desk: Desk, session: Session, form: FormData | None) -> Response:
    sessions.end(desk.engine, session.id)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(sessions.COOKIE, path="/")
    return response
