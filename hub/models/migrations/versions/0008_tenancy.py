"""tenancy: organisation admins, tokens and sources scoped to organisations, server-side sessions

Existing API tokens and sources keep working as all-organisation credentials and are flagged
(all_orgs_by_migration) so `hub token list` and `hub source list` can point them out for narrowing.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 20:50:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('org_admins',
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('org_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['org_id'], ['organisations.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id', 'org_id')
    )
    op.create_table('user_sessions',
    sa.Column('id_hash', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_seen_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id_hash')
    )
    op.create_index('ix_user_sessions_user_id', 'user_sessions', ['user_id'], unique=False)
    op.create_table('api_token_orgs',
    sa.Column('token_id', sa.Integer(), nullable=False),
    sa.Column('org_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['org_id'], ['organisations.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['token_id'], ['api_tokens.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('token_id', 'org_id')
    )
    op.create_table('source_orgs',
    sa.Column('source_id', sa.Integer(), nullable=False),
    sa.Column('org_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['org_id'], ['organisations.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['source_id'], ['sources.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('source_id', 'org_id')
    )
    for table in ('api_tokens', 'sources'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column('all_orgs', sa.Boolean(), nullable=False, server_default=sa.false()))
            batch_op.add_column(sa.Column('all_orgs_by_migration', sa.Boolean(), nullable=False,
                                          server_default=sa.false()))
        # What existed before organisations were walls reached every organisation: it keeps doing so, flagged.
        op.execute(sa.text(f"UPDATE {table} SET all_orgs = true, all_orgs_by_migration = true"))
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('email_from_scim', sa.Boolean(), nullable=False, server_default=sa.false()))
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('org_id', sa.Integer(), nullable=True))
        batch_op.create_index('ix_audit_events_org_id', ['org_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_events_org_id')
        batch_op.drop_column('org_id')
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('email_from_scim')
    for table in ('sources', 'api_tokens'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column('all_orgs_by_migration')
            batch_op.drop_column('all_orgs')
    op.drop_table('source_orgs')
    op.drop_table('api_token_orgs')
    op.drop_index('ix_user_sessions_user_id', table_name='user_sessions')
    op.drop_table('user_sessions')
    op.drop_table('org_admins')
