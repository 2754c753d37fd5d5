"""The desk's Starlette application: its routes, and uvicorn to serve it."""

from __future__ import annotations

import uvicorn
from sqlalchemy import Engine
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from pipeline.config import Config
from pipeline.web import deskpages, login, reportpage, reviewpage
from pipeline.web.desk import STATIC, Desk
from pipeline.web.ratelimit import LoginLimiter


async def home(request: Request) -> Response:
    return RedirectResponse("/review", status_code=303)


def routes() -> list:
    return [
        Route("/", home),
        Route("/login", login.login_form, methods=["GET"]),
        Route("/login", login.login, methods=["POST"]),
        Route("/logout", login.logout, methods=["POST"]),
        Route("/review", reviewpage.review_queue),
        Route("/review/{inbound_id}", reviewpage.review_case, methods=["GET"]),
        Route("/review/{inbound_id}", reviewpage.decide, methods=["POST"]),
        Route("/report", reportpage.report_page),
        Route("/report/{table}.csv", reportpage.report_csv),
        Route("/quarantine", deskpages.quarantine_list),
        Route("/quarantine/{row_id}", deskpages.quarantine_show, methods=["GET"]),
        Route("/quarantine/{row_id}/retry", deskpages.quarantine_retry, methods=["POST"]),
        Route("/outbox", deskpages.outbox_list),
        Route("/outbox/retry", deskpages.outbox_retry, methods=["POST"]),
        Route("/outbox/{row_id}/retry", deskpages.outbox_retry, methods=["POST"]),
        Route("/models", deskpages.models_list),
        Route("/models/promote", deskpages.models_promote, methods=["POST"]),
        Route("/models/rollback", deskpages.models_rollback, methods=["POST"]),
        Route("/account", deskpages.account),
        Route("/account/language", deskpages.account_language, methods=["POST"]),
        Route("/account/password", deskpages.account_password, methods=["POST"]),
        Mount("/static", StaticFiles(directory=str(STATIC)), name="static"),
    ]


def create_app(config: Config, engine: Engine) -> Starlette:
    app = Starlette(routes=routes())
    app.state.desk = Desk(config, engine, LoginLimiter(config.web.login_attempts,
                                                       config.web.login_window))
    return app


def serve(config: Config, engine: Engine) -> None:
    """Run until SIGINT/SIGTERM. X-Forwarded-For/-Proto are believed only from
    trusted_proxies (for the login limit and the cookie's Secure flag behind TLS)."""
    proxies = list(config.web.trusted_proxies)
    uvicorn.run(create_app(config, engine), host=config.web.host, port=config.web.port,
                proxy_headers=bool(proxies), forwarded_allow_ips=proxies or None,
                server_header=False, log_level="info")
