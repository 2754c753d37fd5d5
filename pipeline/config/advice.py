"""What `triaje config check` warns about: settings that load but will not do what the desk
expects. None of these stops the daemon (exit status stays 0); each says what to do.
"""

from __future__ import annotations

import os
from pathlib import Path

from classifier import modelsdir
from pipeline import vocabulary
from pipeline.config import Config


def warnings(cfg: Config) -> list[str]:
    found = [*_routing(cfg), *_secrets(cfg), *_hours(cfg)]
    model_labels = current_model_labels(cfg.classifier.models_dir)
    for rule in cfg.outbound.routing.rules:
        found.extend(_rule_labels(rule, model_labels))
    return found


def current_model_labels(models_dir: str) -> dict[str, tuple[str, ...]] | None:
    """Each head's labels from the current model's manifest (JSON: no scikit-learn needed)."""
    version = modelsdir.current_version(models_dir)
    manifest = modelsdir.manifest_json(Path(models_dir) / version) if version else None
    try:
        return {head: tuple(info.get("labels", ())) for head, info in manifest["heads"].items()}
    except (TypeError, KeyError, AttributeError):  # no model, or a manifest without heads
        return None


def _routing(cfg: Config) -> list[str]:
    if cfg.outbound.routing.default:
        return []
    return ["[routing] is empty: no team gets a routing mail, so cases wait unseen after the "
            'acknowledgement; add [routing] default = "team@example.org" (and triage)']


def _secrets(cfg: Config) -> list[str]:
    named = [(f"mailboxes ({m.name})", key, getattr(m.credentials, key))
             for m in cfg.mailboxes for key in ("password_env", "oauth2_token_env")]
    smtp = cfg.outbound.smtp
    if smtp is not None and smtp.username:
        named.append(("[smtp]", "password_env", smtp.password_env))
    return [f"{where}: {key} names ${variable}, which is not set in this environment; set it "
            "where the daemon runs (systemd: Environment= or EnvironmentFile=)"
            for where, key, variable in named if variable and variable not in os.environ]


def _hours(cfg: Config) -> list[str]:
    if cfg.outbound.service_levels.business_hours is not None:
        return []
    return ["[service_levels] has no business_hours: promises count round the clock (24×7), so "
            'an ack may promise an answer at 6:00 on a Sunday; set business_hours = "08:00-18:00" '
            "and business_days if the desk keeps hours"]


def _rule_labels(rule, model_labels: dict[str, tuple[str, ...]] | None) -> list[str]:
    found = []
    for head in vocabulary.HEADS:
        for value in getattr(rule, head) or ():
            problem = _label_problem(head, value, model_labels)
            if problem:
                found.append(f"{rule.key}: {head} {value!r} {problem}; the rule "
                             "never matches it")
    return found


def _label_problem(head: str, value: str, model_labels: dict[str, tuple[str, ...]] | None) -> str:
    known = (model_labels or {}).get(head)
    in_vocabulary = vocabulary.term(head, value) is not None
    if known is not None and value not in known and not any(
            vocabulary.resolve(head, label) == value for label in known):
        return f"is a label the current model never predicts (it knows: {_names(head, known)})"
    if known is None and not in_vocabulary:
        return (f"is not a {head} triaje knows "
                f"(use one of: {_names(head, vocabulary.codes(head))})")
    return ""


def _names(head: str, labels: tuple[str, ...] | list[str]) -> str:
    return ", ".join(f"{vocabulary.name(head, label, 'es')} / {vocabulary.name(head, label, 'en')}"
                     if vocabulary.term(head, label) else label for label in labels)
