"""add assignment groups, rules, round-robin turns, daily tallies, and lead_imports.apply_rules

Assignment rules route each new lead to a teammate inside its capture transaction. A rule's
round-robin turn is a row locked by each capture that uses it, so it survives restarts and two
simultaneous captures take turns. The history reads a week of per-day tallies, never the leads.

Revision ID: e5a551a0e5b5
Revises: c4f2a8e61d07
Create Date: 2026-12-03 06:40:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'e5a551a0e5b5'
down_revision = 'c4f2a8e61d07'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('assignment_groups',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=80), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_assignment_groups')),
    sa.UniqueConstraint('name', name=op.f('uq_assignment_groups_name'))
    )
    op.create_table('assignment_group_members',
    sa.Column('group_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('weight', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['group_id'], ['assignment_groups.id'], name=op.f('fk_assignment_group_members_group_id_assignment_groups'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_assignment_group_members_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('group_id', 'user_id', name=op.f('pk_assignment_group_members'))
    )
    op.create_index(op.f('ix_assignment_group_members_user_id'), 'assignment_group_members', ['user_id'], unique=False)
    op.create_table('assignment_rules',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=80), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('condition', sa.JSON(), nullable=False),
    sa.Column('target', sa.String(length=20), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('group_id', sa.Integer(), nullable=True),
    sa.Column('cap', sa.Integer(), nullable=True),
    sa.Column('broken_since', sa.DateTime(), nullable=True),
    sa.Column('broken_reason', sa.String(length=200), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['group_id'], ['assignment_groups.id'], name=op.f('fk_assignment_rules_group_id_assignment_groups'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_assignment_rules_user_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_assignment_rules'))
    )
    op.create_index(op.f('ix_assignment_rules_group_id'), 'assignment_rules', ['group_id'], unique=False)
    op.create_index(op.f('ix_assignment_rules_user_id'), 'assignment_rules', ['user_id'], unique=False)
    op.create_table('assignment_turns',
    sa.Column('rule_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('turn', sa.BigInteger(), nullable=False),
    sa.Column('last_user_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['rule_id'], ['assignment_rules.id'], name=op.f('fk_assignment_turns_rule_id_assignment_rules'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('rule_id', name=op.f('pk_assignment_turns'))
    )
    op.create_table('assignment_tallies',
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('rule_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('user_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['rule_id'], ['assignment_rules.id'], name=op.f('fk_assignment_tallies_rule_id_assignment_rules'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_assignment_tallies_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('day', 'rule_id', 'user_id', name=op.f('pk_assignment_tallies'))
    )
    op.create_index('ix_assignment_tallies_day', 'assignment_tallies', ['day'], unique=False)

    with op.batch_alter_table('lead_imports', schema=None) as batch_op:
        batch_op.add_column(sa.Column('apply_rules', sa.Boolean(), server_default=sa.false(), nullable=False))


def downgrade():
    with op.batch_alter_table('lead_imports', schema=None) as batch_op:
        batch_op.drop_column('apply_rules')

    op.drop_index('ix_assignment_tallies_day', table_name='assignment_tallies')
    op.drop_table('assignment_tallies')
    op.drop_table('assignment_turns')
    op.drop_index(op.f('ix_assignment_rules_user_id'), table_name='assignment_rules')
    op.drop_index(op.f('ix_assignment_rules_group_id'), table_name='assignment_rules')
    op.drop_table('assignment_rules')
    op.drop_index(op.f('ix_assignment_group_members_user_id'), table_name='assignment_group_members')
    op.drop_table('assignment_group_members')
    op.drop_table('assignment_groups')
