"""deliveries: enqueued_at (the dispatcher's mark) and org_id (digest grouping); rules: max_delay_seconds

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 16:40:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('enqueued_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('org_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key('fk_deliveries_org_id_organisations', 'organisations', ['org_id'], ['id'],
                                    ondelete='CASCADE')
    with op.batch_alter_table('rules', schema=None) as batch_op:
        batch_op.add_column(sa.Column('max_delay_seconds', sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('rules', schema=None) as batch_op:
        batch_op.drop_column('max_delay_seconds')
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.drop_constraint('fk_deliveries_org_id_organisations', type_='foreignkey')
        batch_op.drop_column('org_id')
        batch_op.drop_column('enqueued_at')
