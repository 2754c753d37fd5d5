"""Routing rules: the issue's config as written, first match wins, doubt goes to triage."""

from __future__ import annotations

import email
import tomllib
from email import policy

import outgoing
import pytest

from pipeline.config import from_dict
from pipeline.errors import ConfigError
from pipeline.outbound.route import decide
from pipeline.outbound.templatecheck import Guess, sample_context, sample_raw

ISSUE_CONFIG = """
[database]
url = "sqlite:///unused.db"

[smtp]
url = "smtp://127.0.0.1:10025"        # smtp:// (starttls = true upgrades) or smtps://
username = "desk"                      # optional, with password_env / password_file
from = "Mesa de servicio <desk@example.org>"
[routing]
triage = "triage@example.org"
default = "n1@example.org"
[[routing.rules]]
type = ["incident"]
priority = ["critical", "high"]
to = ["n2@example.org"]
"""

MORE_RULES = """
[[routing.rules]]
name = "network"
queue = ["redes", "network"]
to = ["redes@example.org"]

[[routing.rules]]
name = "vip"
sender = ["boss@example.org"]
sender_domain = ["example.org"]
to = ["vip@example.org"]

[[routing.rules]]
name = "partner"
sender_domain = ["partner.com"]
mailbox = ["partners"]
to = ["partners-team@example.org", "kam@example.org"]
"""


def routing(extra: str = "", keys: str = ""):
    """The issue's config plus `extra` rules, with `keys` added to [routing]."""
    text = ISSUE_CONFIG.replace("[routing]\n", f"[routing]\n{keys}\n") + extra
    return from_dict(tomllib.loads(text)).outbound.routing


def ctx_with(type_="incident", priority="high", queue=None, sender="ana@example.org",
             mailbox="desk", review=()):
    predictions = {"type": Guess(type_, 0.9, "type" in review),
                   "priority": Guess(priority, 0.8, "priority" in review)}
    if queue:
        predictions["queue"] = Guess(queue, 0.7, "queue" in review)
    return sample_context("es", raw=sample_raw("es", sender=sender), predictions=predictions,
                          mailbox=mailbox)


def test_issue_config_loads_exactly_as_written():
    cfg = from_dict(tomllib.loads(ISSUE_CONFIG)).outbound
    assert cfg.smtp.host == "127.0.0.1" and cfg.smtp.port == 10025
    assert cfg.smtp.username == "desk" and cfg.smtp.password_env == "TRIAJE_SMTP_PASSWORD"
    assert cfg.from_address == "desk@example.org" and cfg.reply_to == "desk@example.org"
    assert cfg.routing.triage == ("triage@example.org",)


@pytest.mark.parametrize("type_, priority, expected, rule", [
    ("incident", "high", ("n2@example.org",), "routing.rules[0]"),
    ("incident", "critical", ("n2@example.org",), "routing.rules[0]"),
    ("Incident", "HIGH", ("n2@example.org",), "routing.rules[0]"),
    ("incident", "low", ("n1@example.org",), "default"),
    ("request", "critical", ("n1@example.org",), "default"),
])
def test_rule_or_default(type_, priority, expected, rule):
    decision = decide(routing(), ctx_with(type_, priority))
    assert (decision.recipients, decision.triage, decision.rule) == (expected, False, rule)


def test_first_match_wins():
    # an incident/high about the network matches rule 0 and the "network" rule: rule 0 wins
    decision = decide(routing(MORE_RULES), ctx_with("incident", "high", queue="redes"))
    assert decision.rule == "routing.rules[0]"
    decision = decide(routing(MORE_RULES), ctx_with("request", "low", queue="redes"))
    assert (decision.rule, decision.recipients) == ("network", ("redes@example.org",))


def test_sender_sender_domain_and_mailbox_rules():
    rules = routing(MORE_RULES)
    assert decide(rules, ctx_with("request", "low", sender="boss@example.org")).rule == "vip"
    assert decide(rules, ctx_with("request", "low", sender="ana@example.org")).rule == "default"
    partner = ctx_with("request", "low", sender="x@madrid.partner.com", mailbox="partners")
    assert decide(rules, partner).recipients == ("partners-team@example.org", "kam@example.org")
    elsewhere = ctx_with("request", "low", sender="x@partner.com", mailbox="desk")
    assert decide(rules, elsewhere).rule == "default"
    lookalike = ctx_with("request", "low", sender="x@notpartner.com", mailbox="partners")
    assert decide(rules, lookalike).rule == "default"


def test_a_rule_on_queue_does_not_match_without_a_queue_prediction():
    assert decide(routing(MORE_RULES), ctx_with("request", "low", queue=None)).rule == "default"


@pytest.mark.parametrize("head", ["type", "priority", "queue"])
def test_any_doubtful_head_goes_to_triage(head):
    decision = decide(routing(MORE_RULES), ctx_with("incident", "high", queue="redes",
                                                    review=(head,)))
    assert decision.triage and decision.recipients == ("triage@example.org",)
    assert head in decision.rule


def test_triage_on_limits_which_doubts_go_to_triage():
    rules = routing(MORE_RULES, keys='triage_on = ["Type", "queue"]')
    assert rules.triage_on == ("type", "queue")
    # an unsure priority no longer goes to triage, and never makes a priority rule match:
    # an unsure "critical" is not escalated to n2
    unsure_critical = ctx_with("incident", "critical", review=("priority",))
    decision = decide(rules, unsure_critical)
    assert (decision.triage, decision.rule, decision.recipients) == \
        (False, "default", ("n1@example.org",))
    unsure_priority_network = ctx_with("request", "low", queue="redes", review=("priority",))
    assert decide(rules, unsure_priority_network).rule == "network"
    for head in ("type", "queue"):
        decision = decide(rules, ctx_with("incident", "high", queue="redes", review=(head,)))
        assert decision.triage and decision.rule == f"triage: {head}"


def test_triage_on_takes_head_names():
    assert routing(keys='triage_on = "type"').triage_on == ("type",)
    assert routing().triage_on is None  # every head, as before the key existed
    with pytest.raises(ConfigError, match="triage_on"):
        routing(keys="triage_on = [1]")
    with pytest.raises(ConfigError, match="'team', which is not a head"):
        routing(keys='triage_on = ["type", "team"]')


def test_triage_mail_goes_to_the_triage_address_and_says_why():
    cfg = from_dict(tomllib.loads(ISSUE_CONFIG)).outbound
    mails = outgoing.build_mails(cfg, ctx_with("incident", "high", review=("priority",)))
    assert [m.kind for m in mails] == ["ack", "triage"]
    triage = email.message_from_bytes(mails[1].raw, policy=policy.default)
    assert triage["To"] == "triage@example.org"
    assert "prioridad" in triage.get_body(("plain",)).get_content()


def test_routing_mail_goes_to_the_matching_team():
    cfg = from_dict(tomllib.loads(ISSUE_CONFIG)).outbound
    mails = outgoing.build_mails(cfg, ctx_with("incident", "critical"))
    route = next(m for m in mails if m.kind == "route")
    assert route.recipients == ("n2@example.org",)
    assert email.message_from_bytes(route.raw, policy=policy.default)["To"] == "n2@example.org"


def test_triage_defaults_to_the_default_address():
    cfg = from_dict({"routing": {"default": "n1@example.org"}}).outbound
    assert cfg.routing.triage == ("n1@example.org",)


@pytest.mark.parametrize("routing_table, key", [
    ({"triage": "t@example.org"}, "routing.default"),
    ({"default": "not an address"}, "routing.default"),
    ({"default": "n1@example.org", "rules": [{"type": ["incident"]}]}, "routing.rules[0].to"),
    ({"default": "n1@example.org", "rules": [{"typ": ["x"], "to": ["a@b.c"]}]},
     "routing.rules[0].typ"),
    ({"default": "n1@example.org", "rules": [{"type": [1], "to": ["a@b.c"]}]},
     "routing.rules[0].type"),
    ({"default": "n1@example.org", "unknown": 1}, "routing.unknown"),
])
def test_bad_routing_names_the_key(routing_table, key):
    with pytest.raises(ConfigError) as caught:
        from_dict({"routing": routing_table})
    assert caught.value.key == key
