"""Corrections by mail without a server (Maildir in, outbox rows out): the reply limit."""

from __future__ import annotations

import mailbox

from conftest import make_mail
from sqlalchemy import select
from test_labels import desk_with_mail

from pipeline.ingest import poller
from pipeline.schema import correction_mails
from pipeline.schema import outbox as outbox_table


def test_unknown_words_are_answered_at_most_the_recipient_limit(tmp_path):
    env, _ = desk_with_mail(tmp_path, ("La impresora no imprime",))
    limit = env.config.outbound.outbox.recipient_limit
    box = mailbox.Maildir(str(tmp_path / "Maildir"))
    for n in range(limit + 2):
        box.add(make_mail(subject="Re: [SD-000001] impresora", sender="n1@example.org",
                          body=f"tipo: cosa rara {n}\n", message_id=f"<c{n}@example.org>"))
    summary, _ = poller.poll_once(env)
    assert summary.new_tickets == 0 and summary.quarantined == 0
    with env.engine.connect() as conn:
        replies = conn.execute(select(outbox_table.c.recipients).where(
            outbox_table.c.kind == "correction")).scalars().all()
        recorded = conn.execute(select(correction_mails.c.unknown)).scalars().all()
    assert replies == ["n1@example.org"] * limit
    assert len(recorded) == limit + 2 and all(u.startswith("type=cosa rara") for u in recorded)
