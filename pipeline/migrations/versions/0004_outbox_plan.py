"""outbox: mails planned at ingest and rendered by the sender (raw nullable, plan column)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28
"""
import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.alter_column('raw', existing_type=sa.LargeBinary(), nullable=True)
        batch_op.add_column(sa.Column('plan', sa.Text(), nullable=True))


def downgrade() -> None:
    # a planned row has no bytes yet: an older triaje could neither send nor keep it
    planned = op.get_bind().execute(sa.text("SELECT count(*) FROM outbox WHERE raw IS NULL"))
    if planned.scalar_one():
        raise RuntimeError("outbox rows planned but not rendered yet: run the daemon or "
                           "`triaje outbox send` until none is queued, then downgrade")
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_column('plan')
        batch_op.alter_column('raw', existing_type=sa.LargeBinary(), nullable=False)
