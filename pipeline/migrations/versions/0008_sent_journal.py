"""sent_journal: the server's 250 for an outbox row, written before the row is marked

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05
"""
import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'sent_journal',
        sa.Column('outbox_id', sa.Integer(), nullable=False),
        sa.Column('message_id', sa.Text(), nullable=False),
        sa.Column('accepted_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('outbox_id'),
    )


def downgrade() -> None:
    op.drop_table('sent_journal')
