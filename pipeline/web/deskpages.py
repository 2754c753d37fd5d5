"""Quarantine (list, show, retry), outbox (list, retry), models (list for all; promote and
rollback for admins) and the user's own account (language, password)."""

from __future__ import annotations

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from classifier import modelsdir
from pipeline.errors import TriajeError
from pipeline.outbound import admin as outboxadmin
from pipeline.process import quarantine
from pipeline.tracking import modelstore
from pipeline.web import users
from pipeline.web.desk import Desk
from pipeline.web.guard import page, refuse
from pipeline.web.sessions import Session
from pipeline.web.words import LANGUAGES

RAW_SHOWN = 64 * 1024


def _id(request: Request) -> int | None:
    value = request.path_params.get("row_id", "")
    return int(value) if str(value).isdigit() else None


@page()
def quarantine_list(request: Request, desk: Desk, session: Session, form: FormData | None) -> Response:
    return desk.page(request, "quarantine.html.j2", session, rows=quarantine.list_rows(desk.engine),
                     done=request.query_params.get("done"),
                     outcome="retried_again" if request.query_params.get("outcome") == "again"
                     else "retried_ok")


@page()
def quarantine_show(request: Request, desk: Desk, session: Session, form: FormData | None) -> Response:
    row_id = _id(request)
    try:
        info, raw = quarantine.show(desk.engine, row_id) if row_id is not None else (None, b"")
    except TriajeError:
        info = None
    if info is None:
        return refuse(request, desk, session, "not_found", 404)
    text = raw[:RAW_SHOWN].decode("utf-8", errors="replace")
    return desk.page(request, "quarantine_show.html.j2", session, info=info, raw=text,
                     cut=len(raw) > RAW_SHOWN)


@page()
def quarantine_retry(request: Request, desk: Desk, session: Session, form: FormData | None) -> Response:
    row_id = _id(request)
    if row_id is None:
        return refuse(request, desk, session, "not_found", 404)
    summary = quarantine.retry(desk.services(), [row_id])
    outcome = "again" if summary.quarantined else "ok"
    return RedirectResponse(f"/quarantine?done={row_id}&outcome={outcome}", status_code=303)


@page()
def outbox_list(request: Request, desk: Desk, session: Session, form: FormData | None) -> Response:
    state = request.query_params.get("state")
    state = state if state in outboxadmin.STATES else None
    return desk.page(request, "outbox.html.j2", session, state=state, states=outboxadmin.STATES,
                     rows=outboxadmin.list_rows(desk.engine, state, limit=200),
                     done=request.query_params.get("done"))


@page()
def outbox_retry(request: Request, desk: Desk, session: Session, form: FormData | None) -> Response:
    row_id = _id(request)
    count = outboxadmin.retry(desk.engine, [row_id] if row_id is not None else None)
    return RedirectResponse(f"/outbox?done={count}", status_code=303)


@page()
def models_list(request: Request, desk: Desk, session: Session, form: FormData | None) -> Response:
    models = [m for m in modelstore.list_models(desk.config.classifier.models_dir)
              if modelsdir.VERSION_NAME.match(m["version"])]  # not a half-made "_training"
    return desk.page(request, "models.html.j2", session, models=models,
                     history=modelstore.history(desk.engine, 20),
                     error=request.query_params.get("error"))


@page(admin=True)
def models_promote(request: Request, desk: Desk, session: Session, form: FormData | None) -> Response:
    version = str((form or {}).get("version") or "")
    try:
        modelstore.promote(desk.engine, desk.config.classifier.models_dir, version,
                           f"web:{session.name}")
    except TriajeError as exc:
        return desk.page(request, "error.html.j2", session, status=400, title="bad_request",
                         message=str(exc))
    return RedirectResponse("/models", status_code=303)


@page(admin=True)
def models_rollback(request: Request, desk: Desk, session: Session, form: FormData | None) -> Response:
    try:
        modelstore.rollback(desk.engine, desk.config.classifier.models_dir, f"web:{session.name}")
    except TriajeError as exc:
        return desk.page(request, "error.html.j2", session, status=400, title="bad_request",
                         message=str(exc))
    return RedirectResponse("/models", status_code=303)


@page()
def account(request: Request, desk: Desk, session: Session, form: FormData | None) -> Response:
    return desk.page(request, "account.html.j2", session, languages=LANGUAGES,
                     message=request.query_params.get("message"))


@page()
def account_language(request: Request, desk: Desk, session: Session, form: FormData | None) -> Response:
    language = str((form or {}).get("language") or "")
    users.set_language(desk.engine, session.user_id, language if language in LANGUAGES else None)
    return RedirectResponse("/account", status_code=303)


@page()
def account_password(request: Request, desk: Desk, session: Session, form: FormData | None) -> Response:
    form = form or FormData()
    new, repeat = str(form.get("new_password") or ""), str(form.get("repeat_password") or "")
    key = f"user:{session.name.lower()}"
    if desk.limiter.blocked(key):
        return RedirectResponse("/account?message=too_many", status_code=303)
    if users.authenticate(desk.engine, session.name, str(form.get("current_password") or "")) is None:
        desk.limiter.failed(key)
        return RedirectResponse("/account?message=wrong_password", status_code=303)
    if new != repeat:
        return RedirectResponse("/account?message=passwords_differ", status_code=303)
    try:
        users.set_password(desk.engine, session.name, new, keep_session=session.id)
    except TriajeError as exc:
        return desk.page(request, "error.html.j2", session, status=400, title="bad_request",
                         message=str(exc))
    return RedirectResponse("/account?message=password_changed", status_code=303)
