"""Route stage: which team gets a message, from the config rules and the predictions.

A doubt on any head sends the message to the triage address: a person decides rather
than a team receiving work that is not theirs. Otherwise the first matching rule wins,
and no match goes to the default address.

`[routing] triage_on` narrows the heads whose doubt means triage (a desk that routes by
type and queue may not want every unsure priority in its triage queue). A doubtful head
left out of it never makes a rule match: an unsure "critical" does not escalate.
"""

from __future__ import annotations

from typing import Any

from pipeline import vocabulary
from pipeline.addresses import domain_of, normalise
from pipeline.config.outbound import RoutingConfig, Rule
from pipeline.outbound.mail import MailContext, RouteDecision


def decide(routing_cfg: RoutingConfig, ctx: MailContext) -> RouteDecision:
    unsure = uncertain_heads(ctx.predictions)
    wanted = routing_cfg.triage_on
    blocking = unsure if wanted is None else [h for h in unsure if h in wanted]
    if blocking:
        return RouteDecision(routing_cfg.triage, True, "triage: " + ", ".join(blocking))
    for rule in routing_cfg.rules:
        if matches(rule, ctx, ignored=unsure):
            return RouteDecision(rule.to, False, rule.name or rule.key)
    if not routing_cfg.default:
        return RouteDecision((), False, "unconfigured")
    return RouteDecision(routing_cfg.default, False, "default")


def uncertain_heads(predictions: dict[str, Any]) -> list[str]:
    return sorted(head for head, p in predictions.items() if p.needs_review)


def matches(rule: Rule, ctx: MailContext, ignored: list[str] | tuple[str, ...] = ()) -> bool:
    """Whether `rule` applies; a condition on an `ignored` (doubtful) head never holds."""
    sender = normalise(ctx.parsed.from_addr)
    facts = {
        "type": _label(ctx.predictions, "type"),
        "priority": _label(ctx.predictions, "priority"),
        "queue": _label(ctx.predictions, "queue"),
        "sender": sender,
        "mailbox": ctx.mailbox,
    }
    for key, value in facts.items():
        wanted = getattr(rule, key)
        if wanted is not None and (key in ignored or value not in wanted):
            return False
    return rule.sender_domain is None or _domain_matches(domain_of(sender), rule.sender_domain)


def _label(predictions: dict[str, Any], head: str) -> str | None:
    """The label as rules hold it: a vocabulary code when the word is one (a model trained
    on `redes` meets a rule on `network`, or `redes`), else the label itself."""
    prediction = predictions.get(head)
    if prediction is None:
        return None
    return vocabulary.resolve(head, prediction.label) or normalise(prediction.label)


def _domain_matches(domain: str, wanted: tuple[str, ...]) -> bool:
    """'example.org' also matches 'madrid.example.org': a site's subdomains are its own."""
    return any(domain == w or domain.endswith("." + w) for w in wanted)


_WORDS = {
    "es": {"default": "ningún criterio concreto: va al equipo por defecto",
           "owner team": "el caso ya es vuestro", "triage": "dudas en", "unconfigured": "sin reglas",
           "and": " y ", "or": " o ", "sender_domain": "remitente de", "sender": "remitente",
           "mailbox": "buzón"},
    "en": {"default": "no specific rule: it goes to the default team",
           "owner team": "the case is already yours", "triage": "doubts about",
           "unconfigured": "no rules", "and": " and ", "or": " or ", "sender_domain": "sender at",
           "sender": "sender", "mailbox": "mailbox"},
}


def describe(routing_cfg: RoutingConfig, rule_id: str, language: str) -> str:
    """Why a mail went where it went, in words: a rule's own name, or its conditions
    («tipo incidencia y prioridad crítica o alta»), never `routing.rules[0]`."""
    words = _WORDS.get(language, _WORDS["en"])
    if rule_id.startswith("triage: "):
        heads = [vocabulary.head_name(h.strip(), language) for h in rule_id[8:].split(",")]
        return f"{words['triage']} {', '.join(heads)}"
    if rule_id in words:
        return words[rule_id]
    rule = next((r for r in routing_cfg.rules if rule_id in (r.name, r.key)), None)
    if rule is None:
        return rule_id
    return rule.name or words["and"].join(_conditions(rule, language, words))


def _conditions(rule: Rule, language: str, words: dict[str, str]) -> list[str]:
    found = []
    for head in vocabulary.HEADS:
        values = getattr(rule, head)
        if values:
            names = words["or"].join(vocabulary.name(head, v, language) for v in values)
            found.append(f"{vocabulary.head_name(head, language)} {names}")
    for key in ("sender_domain", "sender", "mailbox"):
        values = getattr(rule, key)
        if values:
            found.append(f"{words[key]} {words['or'].join(values)}")
    return found or [words["default"]]
