"""nothing dropped silently: mail outbox status and retries; event planning attempts and failure

Mail already sent (sent_at set) becomes `sent`; the rest is `pending` and the worker's flush sends it.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-10 10:00:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

MAIL_UNSENT = "status = 'pending'"


def upgrade() -> None:
    with op.batch_alter_table('mail_outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('status', sa.String(length=10), nullable=False, server_default='pending'))
        batch_op.add_column(sa.Column('attempts', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('last_error', sa.Text(), nullable=True))
    op.execute(sa.text("UPDATE mail_outbox SET status = 'sent' WHERE sent_at IS NOT NULL"))
    op.create_index('ix_mail_outbox_unsent', 'mail_outbox', ['id'], sqlite_where=sa.text(MAIL_UNSENT),
                    postgresql_where=sa.text(MAIL_UNSENT))
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('plan_attempts', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('plan_error', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('next_plan_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('plan_failed_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.drop_column('plan_failed_at')
        batch_op.drop_column('next_plan_at')
        batch_op.drop_column('plan_error')
        batch_op.drop_column('plan_attempts')
    op.drop_index('ix_mail_outbox_unsent', table_name='mail_outbox')
    with op.batch_alter_table('mail_outbox', schema=None) as batch_op:
        batch_op.drop_column('last_error')
        batch_op.drop_column('next_attempt_at')
        batch_op.drop_column('attempts')
        batch_op.drop_column('status')
