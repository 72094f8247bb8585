"""deprovisioning guard: grace period before erasure, mass-suspension guard and its held deactivations

Users already disabled start their grace period now (disabled_at = the migration's time): an organisation that sets
an erase-after period later does not erase people the moment it does.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 23:45:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

HELD_ONLY = "status = 'held'"


def upgrade() -> None:
    with op.batch_alter_table('organisations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('erase_after_days', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('guard_share', sa.Integer(), nullable=False, server_default='10'))
        batch_op.add_column(sa.Column('guard_min', sa.Integer(), nullable=False, server_default='5'))
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('disabled_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('disabled_via', sa.String(length=16), nullable=True))
    op.execute(sa.text("UPDATE users SET disabled_at = CURRENT_TIMESTAMP WHERE status = 'disabled'"))
    op.create_table('deprovisioning_holds',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('org_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('actor', sa.String(length=320), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('requested_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('decided_by', sa.String(length=320), nullable=True),
    sa.ForeignKeyConstraint(['org_id'], ['organisations.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_deprovisioning_holds_org_id', 'deprovisioning_holds', ['org_id'], unique=False)
    op.create_index('ix_deprovisioning_holds_held_user', 'deprovisioning_holds', ['user_id'], unique=True,
                    sqlite_where=sa.text(HELD_ONLY), postgresql_where=sa.text(HELD_ONLY))


def downgrade() -> None:
    op.drop_index('ix_deprovisioning_holds_held_user', table_name='deprovisioning_holds')
    op.drop_index('ix_deprovisioning_holds_org_id', table_name='deprovisioning_holds')
    op.drop_table('deprovisioning_holds')
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('disabled_via')
        batch_op.drop_column('disabled_at')
    with op.batch_alter_table('organisations', schema=None) as batch_op:
        batch_op.drop_column('guard_min')
        batch_op.drop_column('guard_share')
        batch_op.drop_column('erase_after_days')
