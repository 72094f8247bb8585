"""network limits: organisation budgets for networks that bill posts (X), what each month cost, a post's cost,
and rules that post without the link

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 23:55:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('posting_budgets',
    sa.Column('org_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('monthly_micros', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['org_id'], ['organisations.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('org_id', 'kind')
    )
    op.create_table('posting_spend',
    sa.Column('org_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('month', sa.String(length=7), nullable=False),
    sa.Column('spent_micros', sa.BigInteger(), nullable=False),
    sa.Column('posts', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['org_id'], ['organisations.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('org_id', 'kind', 'month')
    )
    with op.batch_alter_table('rules', schema=None) as batch_op:
        batch_op.add_column(sa.Column('without_link', sa.Boolean(), nullable=False, server_default=sa.false()))
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('cost_micros', sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.drop_column('cost_micros')
    with op.batch_alter_table('rules', schema=None) as batch_op:
        batch_op.drop_column('without_link')
    op.drop_table('posting_spend')
    op.drop_table('posting_budgets')
