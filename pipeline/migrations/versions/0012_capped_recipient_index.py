"""the per-recipient index on a capped prefix of outbox.recipients

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05

`outbox.recipients` holds a mail's whole envelope list (comma-separated), and
`ix_outbox_recipient_time` indexed it whole: a routing mail to a long team list passed
PostgreSQL's B-tree entry limit (about 2,700 bytes) and its message was quarantined with
"index row size ... exceeds btree version 4 maximum". The index now holds the first
RECIPIENT_PREFIX characters (at most 4 bytes each in UTF-8: 800 bytes), an expression both
engines index (SQLite since 3.9); the query compares that prefix, to use the index, and
the whole value, to stay exact (policy._sent_to). The column keeps the whole list.
"""
import sqlalchemy as sa
from alembic import op

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None

RECIPIENT_PREFIX = 200  # pipeline.schema.RECIPIENT_PREFIX at the time of writing


def upgrade() -> None:
    with op.batch_alter_table('outbox') as batch:
        batch.drop_index('ix_outbox_recipient_time')
    op.create_index('ix_outbox_recipient_time', 'outbox',
                    [sa.text(f'substr(recipients, 1, {RECIPIENT_PREFIX})'), 'created_at'])


def downgrade() -> None:
    op.drop_index('ix_outbox_recipient_time', table_name='outbox')
    with op.batch_alter_table('outbox') as batch:
        batch.create_index('ix_outbox_recipient_time', ['recipients', 'created_at'])
