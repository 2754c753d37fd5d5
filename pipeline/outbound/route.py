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
            return RouteDecision(rule.to, False, rule.name)
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
    prediction = predictions.get(head)
    return None if prediction is None else normalise(prediction.label)


def _domain_matches(domain: str, wanted: tuple[str, ...]) -> bool:
    """'example.org' also matches 'madrid.example.org': a site's subdomains are its own."""
    return any(domain == w or domain.endswith("." + w) for w in wanted)
