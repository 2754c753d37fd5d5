"""What every page of the desk shares: the config, the engine, the templates, the login
limiter and the model (loaded once per version in service, to know its labels)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from importlib.resources import files
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy import Engine
from starlette.requests import Request
from starlette.responses import HTMLResponse

from classifier import modelsdir
from pipeline import services, vocabulary
from pipeline.config import Config
from pipeline.tracking.formats import Formats
from pipeline.web import words
from pipeline.web.ratelimit import LoginLimiter
from pipeline.web.reportdata import ReportCache
from pipeline.web.sessions import Session

TEMPLATES = files("pipeline.web") / "templates"
STATIC = files("pipeline.web") / "static"


def environment() -> Environment:
    env = Environment(loader=FileSystemLoader(str(TEMPLATES)),
                      autoescape=select_autoescape(["html", "j2"], default=True),
                      trim_blocks=True, lstrip_blocks=True)
    env.globals["label_name"] = vocabulary.name
    env.globals["head_name"] = vocabulary.head_name
    env.globals["in_words"] = words.confidence
    return env


@dataclass
class Desk:
    config: Config
    engine: Engine
    limiter: LoginLimiter
    templates: Environment = field(default_factory=environment)
    report_cache: ReportCache = field(default_factory=ReportCache)
    _model: tuple[str | None, Any] = (None, None)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def model(self) -> Any | None:
        """The model in service; loaded again only after a promote or a rollback."""
        version = modelsdir.current_version(self.config.classifier.models_dir)
        with self._lock:
            if version is not None and self._model[0] != version:
                self._model = (version, services.load_model(self.config))
            return self._model[1] if version is not None else None

    def services(self) -> services.Services:
        return services.Services(self.config, self.engine, self.model())

    def language(self, request: Request, session: Session | None) -> str:
        return words.choose(session.language if session else None,
                            request.headers.get("accept-language"),
                            self.config.desk.default_language)

    def page(self, request: Request, template: str, session: Session | None, status: int = 200,
             **values: Any) -> HTMLResponse:
        language = self.language(request, session)
        def say(key: str, default: str | None = None) -> str:
            return words.word(key, language, default)

        fmt = Formats(language)  # «66,7 %», «1.234», «5 dic 2026» in Spanish
        for name in ("pct", "num", "day", "moment"):
            values.setdefault(name, getattr(fmt, name))
        html = self.templates.get_template(template).render(
            request=request, session=session, lang=language, t=say,
            csrf=session.csrf_token if session else values.pop("login_csrf", ""), **values)
        return HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)


# No frames, no sniffing, scripts and styles only from our own /static.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; "
                               "img-src 'self' data:; frame-ancestors 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
