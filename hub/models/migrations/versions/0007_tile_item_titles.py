"""tile_items.title: the headline of a feed entry or news page, shown above its text

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 19:20:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('tile_items', schema=None) as batch_op:
        batch_op.add_column(sa.Column('title', sa.String(length=300), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('tile_items', schema=None) as batch_op:
        batch_op.drop_column('title')
