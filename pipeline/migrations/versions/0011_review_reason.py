"""predictions.review_reason: why a prediction needs a person (unfamiliar, low_confidence...)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05
"""
import sqlalchemy as sa
from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('predictions') as batch:
        batch.add_column(sa.Column('review_reason', sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('predictions') as batch:
        batch.drop_column('review_reason')
