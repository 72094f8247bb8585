"""events: planned_at; deliveries: enqueued_at (the dispatcher's marks) and org_id (digests); rules: max_delay_seconds;
an index on lower(users.email)

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 16:40:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


UNPLANNED = "planned_at IS NULL"
UNDISPATCHED = "enqueued_at IS NULL AND status IN ('pending', 'failed')"
HELD = "status = 'held'"


def upgrade() -> None:
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('planned_at', sa.DateTime(timezone=True), nullable=True))
    # Events stored before this revision were planned in their own transaction.
    op.execute("UPDATE events SET planned_at = received_at")
    op.create_index('ix_events_unplanned', 'events', ['id'], sqlite_where=sa.text(UNPLANNED),
                    postgresql_where=sa.text(UNPLANNED))
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('enqueued_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('org_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key('fk_deliveries_org_id_organisations', 'organisations', ['org_id'], ['id'],
                                    ondelete='CASCADE')
    # Deliveries from before this revision were enqueued at once.
    op.execute("UPDATE deliveries SET enqueued_at = created_at")
    op.create_index('ix_deliveries_undispatched', 'deliveries', ['id'], sqlite_where=sa.text(UNDISPATCHED),
                    postgresql_where=sa.text(UNDISPATCHED))
    op.create_index('ix_deliveries_held_due', 'deliveries', ['next_attempt_at'], sqlite_where=sa.text(HELD),
                    postgresql_where=sa.text(HELD))
    with op.batch_alter_table('rules', schema=None) as batch_op:
        batch_op.add_column(sa.Column('max_delay_seconds', sa.Integer(), nullable=True))
    # The intake resolves a learner by lower(email) inside its INSERT: without this, a scan of users per event.
    op.create_index('ix_users_email_lower', 'users', [sa.text('lower(email)')])


def downgrade() -> None:
    op.drop_index('ix_users_email_lower', table_name='users')
    op.drop_index('ix_deliveries_held_due', table_name='deliveries')
    op.drop_index('ix_deliveries_undispatched', table_name='deliveries')
    op.drop_index('ix_events_unplanned', table_name='events')
    with op.batch_alter_table('rules', schema=None) as batch_op:
        batch_op.drop_column('max_delay_seconds')
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.drop_constraint('fk_deliveries_org_id_organisations', type_='foreignkey')
        batch_op.drop_column('org_id')
        batch_op.drop_column('enqueued_at')
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.drop_column('planned_at')
