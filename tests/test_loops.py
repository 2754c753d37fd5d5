"""Mail loops: desks answering desks, autoresponders without RFC 3834 headers, bounces.

Each scenario builds a small mail world (the SMTP receiver delivers into Dovecot
mailboxes; some addresses answer everything), starts one mail, and counts every mail
that travels until the world has been quiet for a while. With the default limits
(`[desk] sender_limit = 10` per hour, `[outbox] recipient_limit = 5` per hour) every
loop must die out on its own within a few mails.
"""

from __future__ import annotations

import os
from contextlib import ExitStack
from email.message import EmailMessage
from email.utils import make_msgid

import pytest
from chaos.harness import Desk
from chaos.relay import MailWorld, bounce, quiet_for, vacation_reply
from helpers import build_env

from pipeline.daemon import Daemon

pytestmark = pytest.mark.dovecot
QUIET = 4.0  # seconds without any mail: the loop has stopped (a hop takes under 2 s)
CAP = 120  # mails: a loop that reaches this has not stopped on its own


def first_mail(sender: str, to: str, subject: str = "La impresora no imprime") -> bytes:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, to, subject
    msg["Message-ID"] = make_msgid(domain="example.com")
    msg.set_content("Hola, la impresora de la planta 2 no imprime.")
    return bytes(msg)


def run_world(dovecot, tmp_path, desks: list[tuple[str, str, str]], strip: bool = False,
              setup=None, start=None) -> MailWorld:
    """Start the world and one daemon per desk (name, address, prefix), send the first mail,
    wait until the world is quiet (or the cap is hit), and return the world."""
    world = MailWorld(dovecot, strip_auto_headers=strip).start()
    with ExitStack() as stack:
        stack.callback(world.stop)
        for name, address, prefix in desks:
            desk = Desk(dovecot, tmp_path / name, world.receiver.url, name=name, address=address,
                        prefix=prefix)
            desk.config["mailboxes"][0]["poll_interval"] = 2
            world.mailboxes[address] = desk.user
            os.environ[desk.password_env] = desk.password
            daemon = Daemon(build_env(desk.config))  # in process: no start-up cost per desk
            daemon.start()
            stack.callback(daemon.stop)
        if setup:
            setup(world)
        start(world)
        stopped = quiet_for(world, QUIET, CAP, 150)
    kinds = {k: world.count(k) for k in ("start", "smtp", "reply", "bounce")}
    print(f"\nmails exchanged: {world.count()} {kinds}")
    for e in world.log[:40]:
        print(f"  {e.kind:6} {e.sender:28} -> {e.recipient:24} {e.subject[:60]}")
    assert world.errors == []
    assert stopped, f"the loop did not stop: {world.count()} mails"
    return world


def test_two_desks_acknowledging_each_other(dovecot, tmp_path):
    world = run_world(dovecot, tmp_path, [("a", "deska@example.org", "SDA"),
                                          ("b", "deskb@example.org", "SDB")],
                      start=lambda w: w.inject(first_mail("deskb@example.org", "deska@example.org"),
                                               "deska@example.org"))
    assert world.count() <= 4


def test_two_desks_behind_a_forwarder_that_strips_auto_headers(dovecot, tmp_path):
    world = run_world(dovecot, tmp_path, [("a", "deska@example.org", "SDA"),
                                          ("b", "deskb@example.org", "SDB")], strip=True,
                      start=lambda w: w.inject(first_mail("deskb@example.org", "deska@example.org"),
                                               "deska@example.org"))
    assert world.count() <= 30


def test_user_with_a_vacation_responder(dovecot, tmp_path):
    def setup(world):
        world.responders["vac@example.com"] = lambda msg, raw, me: vacation_reply(msg, me)

    world = run_world(dovecot, tmp_path, [("desk", "desk@example.org", "SD")], setup=setup,
                      start=lambda w: w.inject(first_mail("vac@example.com", "desk@example.org"),
                                               "desk@example.org"))
    assert world.count("reply") <= 6


def test_user_with_a_vacation_responder_that_drops_the_subject(dovecot, tmp_path):
    """No ticket tag, no In-Reply-To: every reply looks like new work."""
    def setup(world):
        world.responders["vac@example.com"] = lambda msg, raw, me: vacation_reply(msg, me, False)

    world = run_world(dovecot, tmp_path, [("desk", "desk@example.org", "SD")], setup=setup,
                      start=lambda w: w.inject(first_mail("vac@example.com", "desk@example.org"),
                                               "desk@example.org"))
    assert world.count("reply") <= 6  # recipient_limit = 5 acks an hour, plus one


@pytest.mark.slow
def test_team_address_with_a_vacation_responder(dovecot, tmp_path):
    """The routing mail goes to n1@, whose responder answers the desk: new work again.
    Stopped by the limits together: 10 mails from n1@ are answered (acks capped at 5), then
    they count as automatic and cause at most 5 more team mails (measured: 44 in all)."""
    world = _teams_answering(dovecot, tmp_path, lambda msg, raw, me: vacation_reply(msg, me, False))
    assert world.count() <= 50


def test_bounce_storm(dovecot, tmp_path):
    """Acks to an unknown user bounce back, and 30 bounces arrive at once: no ack for any."""
    def setup(world):
        world.responders["ghost@example.com"] = lambda msg, raw, me: bounce(msg, raw, me)

    def start(world):
        world.inject(first_mail("ghost@example.com", "desk@example.org"), "desk@example.org")
        for i in range(30):
            dsn = bounce(_spam(i), b"Subject: spam\r\n\r\nspam\r\n", f"nobody{i}@example.net")
            world.inject(dsn.as_bytes(), "desk@example.org", "bounce")

    world = run_world(dovecot, tmp_path, [("desk", "desk@example.org", "SD")], setup=setup,
                      start=start)
    acks = [e for e in world.log if e.kind == "smtp" and e.recipient not in
            ("n1@example.org", "triage@example.org")]
    assert len(acks) == 1  # only the first mail's ack, which then bounced
    assert world.count("bounce") == 1 + 30
    assert world.count("smtp") <= 1 + 1 + 5  # the ack, its routing mail, 5 for the storm


@pytest.mark.slow
def test_team_address_that_bounces(dovecot, tmp_path):
    """The triage address does not exist: each routing mail bounces back to the desk."""
    world = _teams_answering(dovecot, tmp_path, lambda msg, raw, me: bounce(msg, raw, me))
    assert world.count() <= 20


def _teams_answering(dovecot, tmp_path, responder):
    """One desk whose team addresses (n1@ and triage@) answer every mail with `responder`."""
    def setup(world):
        world.responders["n1@example.org"] = responder
        world.responders["triage@example.org"] = responder

    return run_world(dovecot, tmp_path, [("desk", "desk@example.org", "SD")], setup=setup,
                     start=lambda w: w.inject(first_mail("ana@example.com", "desk@example.org"),
                                              "desk@example.org"))


def _spam(i: int) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "desk@example.org"  # forged: spam sent in the desk's name
    msg["Subject"] = f"cheap pills {i}"
    return msg
