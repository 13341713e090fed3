"""add lead scoring: rules, bands, re-scoring runs, and each lead's score and reasons

The lead's new columns are added with plain ALTER TABLE ADD COLUMN (no batch copy): on SQLite a
batch would rebuild `leads` and drop the stage-totals triggers of c4f1a7e2b9d3.

Revision ID: e4c0e5c0e4a4
Revises: c4f2a8e61d07
Create Date: 2026-12-03 06:30:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'e4c0e5c0e4a4'
down_revision = 'c4f2a8e61d07'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'scoring_rules',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('position', sa.Integer(), nullable=False),
        sa.Column('label', sa.String(length=80), nullable=False),
        sa.Column('condition', sa.JSON(), nullable=False),
        sa.Column('points', sa.Integer(), nullable=False),
        sa.Column('fade_days', sa.Integer(), nullable=True),
        sa.Column('enabled', sa.Boolean(), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('updated_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_scoring_rules')),
    )
    op.create_index(op.f('ix_scoring_rules_position'), 'scoring_rules', ['position'], unique=False)
    op.create_table(
        'score_bands',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=30), nullable=False),
        sa.Column('min_score', sa.Integer(), nullable=True),
        sa.Column('colour', sa.String(length=7), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_score_bands')),
        sa.UniqueConstraint('min_score', name=op.f('uq_score_bands_min_score')),
    )
    op.create_table(
        'scoring_runs',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('status', sa.String(length=12), nullable=False),
        sa.Column('total', sa.Integer(), nullable=False),
        sa.Column('done', sa.Integer(), nullable=False),
        sa.Column('after_id', sa.Integer(), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('started_at', sa.DateTime(), nullable=True),
        sa.Column('heartbeat_at', sa.DateTime(), nullable=True),
        sa.Column('finished_at', sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_scoring_runs')),
    )
    op.create_index(op.f('ix_scoring_runs_status'), 'scoring_runs', ['status'], unique=False)
    op.add_column('leads', sa.Column('score', sa.Integer(), server_default='0', nullable=False))
    op.add_column('leads', sa.Column('score_reasons', sa.JSON(), nullable=True))
    op.add_column('leads', sa.Column('score_changes_at', sa.DateTime(), nullable=True))
    op.create_index('ix_leads_score_id', 'leads', ['score', 'id'], unique=False)
    op.create_index('ix_leads_stage_score_id', 'leads', ['stage_id', 'score', 'id'], unique=False)
    op.create_index(op.f('ix_leads_score_changes_at'), 'leads', ['score_changes_at'], unique=False)


def downgrade():
    op.drop_index(op.f('ix_leads_score_changes_at'), table_name='leads')
    op.drop_index('ix_leads_stage_score_id', table_name='leads')
    op.drop_index('ix_leads_score_id', table_name='leads')
    with op.batch_alter_table('leads', schema=None, recreate='never') as batch_op:
        batch_op.drop_column('score_changes_at')
        batch_op.drop_column('score_reasons')
        batch_op.drop_column('score')
    op.drop_index(op.f('ix_scoring_runs_status'), table_name='scoring_runs')
    op.drop_table('scoring_runs')
    op.drop_table('score_bands')
    op.drop_index(op.f('ix_scoring_rules_position'), table_name='scoring_rules')
    op.drop_table('scoring_rules')
