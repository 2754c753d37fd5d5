"""labels: human labels, correction mails, audit sample, review log, model events

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28
"""
import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('labels',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('inbound_id', sa.Integer(), nullable=False),
    sa.Column('head', sa.String(length=40), nullable=False),
    sa.Column('label', sa.String(length=100), nullable=False),
    sa.Column('source', sa.String(length=20), nullable=False),
    sa.Column('author', sa.String(length=320), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('origin_inbound_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['inbound_id'], ['inbound.id'], ),
    sa.ForeignKeyConstraint(['origin_inbound_id'], ['inbound.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('labels', schema=None) as batch_op:
        batch_op.create_index('ix_labels_message_head', ['inbound_id', 'head', 'id'], unique=False)

    op.create_table('correction_mails',
    sa.Column('inbound_id', sa.Integer(), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=False),
    sa.Column('target_inbound_id', sa.Integer(), nullable=True),
    sa.Column('author', sa.String(length=320), nullable=False),
    sa.Column('applied', sa.Text(), nullable=False),
    sa.Column('unknown', sa.Text(), nullable=False),
    sa.Column('rerouted_to', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['inbound_id'], ['inbound.id'], ),
    sa.ForeignKeyConstraint(['target_inbound_id'], ['inbound.id'], ),
    sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], ),
    sa.PrimaryKeyConstraint('inbound_id')
    )
    op.create_table('audit_sample',
    sa.Column('inbound_id', sa.Integer(), nullable=False),
    sa.Column('draw', sa.Float(), nullable=False),
    sa.Column('fraction', sa.Float(), nullable=False),
    sa.Column('drawn', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['inbound_id'], ['inbound.id'], ),
    sa.PrimaryKeyConstraint('inbound_id')
    )
    op.create_table('review_log',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('inbound_id', sa.Integer(), nullable=False),
    sa.Column('head', sa.String(length=40), nullable=False),
    sa.Column('decision', sa.String(length=20), nullable=False),
    sa.Column('label', sa.String(length=100), nullable=True),
    sa.Column('author', sa.String(length=320), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['inbound_id'], ['inbound.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('review_log', schema=None) as batch_op:
        batch_op.create_index('ix_review_log_message_head', ['inbound_id', 'head'], unique=False)

    op.create_table('model_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('action', sa.String(length=20), nullable=False),
    sa.Column('version', sa.String(length=100), nullable=True),
    sa.Column('previous', sa.String(length=100), nullable=True),
    sa.Column('author', sa.String(length=320), nullable=False),
    sa.Column('details', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )


def downgrade() -> None:
    op.drop_table('model_events')
    with op.batch_alter_table('review_log', schema=None) as batch_op:
        batch_op.drop_index('ix_review_log_message_head')
    op.drop_table('review_log')
    op.drop_table('audit_sample')
    op.drop_table('correction_mails')
    with op.batch_alter_table('labels', schema=None) as batch_op:
        batch_op.drop_index('ix_labels_message_head')
    op.drop_table('labels')
