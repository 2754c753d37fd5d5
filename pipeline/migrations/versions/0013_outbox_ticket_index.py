"""an index on outbox.ticket_id

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-05

Processing asks which team a ticket was routed to (the owner team of a follow-up, a
correction's re-route) by `outbox.ticket_id`; without an index each batch scanned the
whole outbox, which grows by two or three rows per mail and is never pruned.
"""
from alembic import op

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_outbox_ticket', 'outbox', ['ticket_id'])


def downgrade() -> None:
    op.drop_index('ix_outbox_ticket', table_name='outbox')
