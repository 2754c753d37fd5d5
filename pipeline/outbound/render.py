"""Templates: find one per kind, language and format, and render it safely.

A site folder (`[templates] directory`) is searched before the bundled templates, so a site
can override any file or add a language. HTML output is autoescaped and a missing variable
is an error (StrictUndefined), never an empty hole in a mail sent to a user. User text only
ever enters as a variable, so it is never evaluated as template code.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import jinja2

from pipeline.config.outbound import TemplatesConfig
from pipeline.errors import StageError
from pipeline.resources import bundled

BUNDLED_PACKAGE = "pipeline.templates"
FALLBACK_LANGUAGE = "es"


@dataclass(frozen=True)
class Rendered:
    language: str
    text: str
    html: str


class BundledLoader(jinja2.BaseLoader):
    """Reads the templates shipped in the package through importlib.resources."""

    def get_source(self, environment: jinja2.Environment,
                   template: str) -> tuple[str, str | None, Callable[[], bool]]:
        resource = bundled(BUNDLED_PACKAGE).joinpath(*template.split("/"))
        if not resource.is_file():
            raise jinja2.TemplateNotFound(template)
        return resource.read_text(encoding="utf-8"), None, lambda: True


def _autoescape(name: str | None) -> bool:
    return bool(name) and name.endswith((".html.j2", ".htm.j2"))


@lru_cache(maxsize=8)
def environment(directory: str | None) -> jinja2.Environment:
    loaders: list[jinja2.BaseLoader] = [BundledLoader()]
    if directory:
        loaders.insert(0, jinja2.FileSystemLoader(directory))
    return jinja2.Environment(
        loader=jinja2.ChoiceLoader(loaders), autoescape=_autoescape,
        undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def template_name(kind: str, language: str, fmt: str) -> str:
    return f"{kind}/{language}.{fmt}.j2"


def pick_language(cfg: TemplatesConfig, kind: str, wanted: str | None) -> str:
    """The wanted language if a text template exists for it, else the desk's default."""
    env = environment(cfg.directory)
    for language in _candidates(cfg, wanted):
        try:
            env.get_template(template_name(kind, language, "txt"))
            return language
        except jinja2.TemplateNotFound:
            continue
        except jinja2.TemplateError as exc:
            raise _failure(template_name(kind, language, "txt"), exc) from exc
    raise StageError("compose", f"no template for {kind!r} in {_candidates(cfg, wanted)}")


def _candidates(cfg: TemplatesConfig, wanted: str | None) -> list[str]:
    ordered = [(wanted or "").lower(), cfg.default_language, FALLBACK_LANGUAGE]
    return [lang for i, lang in enumerate(ordered) if lang and lang not in ordered[:i]]


def render(cfg: TemplatesConfig, kind: str, language: str, variables: dict[str, Any]) -> Rendered:
    """Text and HTML bodies of one mail; a broken template fails the compose stage."""
    return Rendered(language, _render_one(cfg, template_name(kind, language, "txt"), variables),
                    _render_one(cfg, template_name(kind, language, "html"), variables))


def _render_one(cfg: TemplatesConfig, name: str, variables: dict[str, Any]) -> str:
    try:
        return environment(cfg.directory).get_template(name).render(variables)
    except jinja2.TemplateError as exc:
        raise _failure(name, exc) from exc


def _failure(name: str, exc: Exception) -> StageError:
    return StageError("compose", f"template {name} failed: {type(exc).__name__}: {exc}")
