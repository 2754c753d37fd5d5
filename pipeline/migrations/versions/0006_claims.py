"""claims: an inbound row being processed names its owner and the end of its lease

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05
"""
import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('inbound', schema=None) as batch_op:
        batch_op.add_column(sa.Column('claimed_by', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('lease_until', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    # a row an older triaje does not know as a state would never be processed
    op.get_bind().execute(sa.text("UPDATE inbound SET state = 'fetched' WHERE state = 'processing'"))
    with op.batch_alter_table('inbound', schema=None) as batch_op:
        batch_op.drop_column('lease_until')
        batch_op.drop_column('claimed_by')
