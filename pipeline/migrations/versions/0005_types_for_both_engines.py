"""types that fit both engines: BigInteger UIDs, Text where a value comes from outside

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05

On PostgreSQL `integer` is signed 32-bit while IMAP UIDs and UIDVALIDITY go to 2^32-1,
and a `varchar(n)` refuses a longer value (the `pending-...` ticket ref did). SQLite
stores 64-bit integers in any INTEGER column and ignores lengths, so its files need no
rewrite (a batch copy of `inbound` with every raw message would only cost time).
"""
import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

UIDS = {'mailbox_state': ('uidvalidity', 'last_uid'), 'inbound': ('uidvalidity', 'uid')}
TEXTS = {
    'mailbox_state': {'mailbox': 200, 'folder': 500},
    'tickets': {'ref': 40, 'mailbox': 200, 'requester': 320},
    'inbound': {'mailbox': 200, 'folder': 500, 'source_key': 500, 'dedupe_key': 1000,
                'message_id': 1000, 'auto_reason': 200, 'sender': 320},
    'predictions': {'label': 100, 'model_version': 100},
    'outbox': {'message_id': 1000},
    'labels': {'label': 100, 'author': 320},
    'correction_mails': {'author': 320},
    'review_log': {'label': 100, 'author': 320},
    'model_events': {'version': 100, 'previous': 100, 'author': 320},
}


def upgrade() -> None:
    if op.get_bind().dialect.name == 'sqlite':
        return
    for table, columns in UIDS.items():
        for column in columns:
            op.alter_column(table, column, type_=sa.BigInteger(), existing_type=sa.Integer())
    for table, columns in TEXTS.items():
        for column, length in columns.items():
            op.alter_column(table, column, type_=sa.Text(), existing_type=sa.String(length))


def downgrade() -> None:
    if op.get_bind().dialect.name == 'sqlite':
        return
    for table, columns in TEXTS.items():  # fails, naming the column, if a value is longer
        for column, length in columns.items():
            op.alter_column(table, column, type_=sa.String(length), existing_type=sa.Text())
    for table, columns in UIDS.items():
        for column in columns:
            op.alter_column(table, column, type_=sa.Integer(), existing_type=sa.BigInteger())
