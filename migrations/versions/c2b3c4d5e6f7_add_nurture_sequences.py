"""add nurture sequences: steps, enrolment rules, enrolments, the steps each ran, bulk enrolment runs

Revision ID: c2b3c4d5e6f7
Revises: b7c8d9e0f1a2
Create Date: 2026-12-03 19:27:37.926304

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'c2b3c4d5e6f7'
down_revision = 'b7c8d9e0f1a2'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('sequences',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('stop_on_other', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_sequences_created_by_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sequences'))
    )
    op.create_index('ux_sequences_lower_name', 'sequences', [sa.text('lower(name)')], unique=True)
    op.create_table('sequence_bulk_runs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('sequence_id', sa.Integer(), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('query', sa.String(length=2000), nullable=False),
    sa.Column('total', sa.Integer(), nullable=False),
    sa.Column('done', sa.Integer(), nullable=False),
    sa.Column('enrolled', sa.Integer(), nullable=False),
    sa.Column('after_id', sa.BigInteger(), nullable=False),
    sa.Column('state', sa.String(length=10), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('finished_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['actor_id'], ['users.id'], name=op.f('fk_sequence_bulk_runs_actor_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['sequence_id'], ['sequences.id'], name=op.f('fk_sequence_bulk_runs_sequence_id_sequences'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sequence_bulk_runs'))
    )
    with op.batch_alter_table('sequence_bulk_runs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sequence_bulk_runs_sequence_id'), ['sequence_id'], unique=False)

    op.create_table('sequence_rules',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('sequence_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('value', sa.String(length=100), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['sequence_id'], ['sequences.id'], name=op.f('fk_sequence_rules_sequence_id_sequences'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sequence_rules'))
    )
    with op.batch_alter_table('sequence_rules', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sequence_rules_sequence_id'), ['sequence_id'], unique=False)
        batch_op.create_index('ux_sequence_rules', ['kind', 'value', 'sequence_id'], unique=True)

    op.create_table('sequence_steps',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('sequence_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('template_id', sa.Integer(), nullable=True),
    sa.Column('task_title', sa.String(length=200), nullable=True),
    sa.Column('delay_days', sa.Integer(), nullable=False),
    sa.Column('business_days', sa.Boolean(), nullable=False),
    sa.Column('window_days', sa.String(length=7), nullable=False),
    sa.Column('window_start', sa.Integer(), nullable=True),
    sa.Column('window_end', sa.Integer(), nullable=True),
    sa.Column('removed_at', sa.DateTime(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['sequence_id'], ['sequences.id'], name=op.f('fk_sequence_steps_sequence_id_sequences'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['template_id'], ['email_templates.id'], name=op.f('fk_sequence_steps_template_id_email_templates'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sequence_steps'))
    )
    with op.batch_alter_table('sequence_steps', schema=None) as batch_op:
        batch_op.create_index('ix_sequence_steps_sequence', ['sequence_id', 'position'], unique=False)
        batch_op.create_index(batch_op.f('ix_sequence_steps_template_id'), ['template_id'], unique=False)

    op.create_table('sequence_enrolments',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('sequence_id', sa.Integer(), nullable=False),
    sa.Column('lead_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('step_id', sa.Integer(), nullable=True),
    sa.Column('next_at', sa.DateTime(), nullable=True),
    sa.Column('enrolled_at', sa.DateTime(), nullable=False),
    sa.Column('enrolled_by_id', sa.Integer(), nullable=True),
    sa.Column('how', sa.String(length=10), nullable=False),
    sa.Column('ended_at', sa.DateTime(), nullable=True),
    sa.Column('stop_reason', sa.String(length=20), nullable=True),
    sa.Column('sent', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['enrolled_by_id'], ['users.id'], name=op.f('fk_sequence_enrolments_enrolled_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['lead_id'], ['leads.id'], name=op.f('fk_sequence_enrolments_lead_id_leads'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['sequence_id'], ['sequences.id'], name=op.f('fk_sequence_enrolments_sequence_id_sequences'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sequence_enrolments'))
    )
    with op.batch_alter_table('sequence_enrolments', schema=None) as batch_op:
        batch_op.create_index('ix_sequence_enrolments_due', ['next_at'], unique=False, sqlite_where=sa.text("status = 'active'"), postgresql_where=sa.text("status = 'active'"))
        batch_op.create_index('ix_sequence_enrolments_figures', ['sequence_id', 'status', 'stop_reason'], unique=False)
        batch_op.create_index('ix_sequence_enrolments_lead', ['lead_id', 'ended_at'], unique=False)
        batch_op.create_index('ux_sequence_enrolments_current', ['sequence_id', 'lead_id'], unique=True, sqlite_where=sa.text('ended_at IS NULL'), postgresql_where=sa.text('ended_at IS NULL'))

    op.create_table('sequence_sends',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('enrolment_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('sequence_id', sa.Integer(), nullable=False),
    sa.Column('step_id', sa.Integer(), nullable=False),
    sa.Column('lead_id', sa.Integer(), nullable=False),
    sa.Column('outcome', sa.String(length=10), nullable=False),
    sa.Column('reason', sa.String(length=40), nullable=True),
    sa.Column('outbox_id', sa.Integer(), nullable=True),
    sa.Column('task_id', sa.Integer(), nullable=True),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['enrolment_id'], ['sequence_enrolments.id'], name=op.f('fk_sequence_sends_enrolment_id_sequence_enrolments'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['lead_id'], ['leads.id'], name=op.f('fk_sequence_sends_lead_id_leads'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sequence_sends'))
    )
    with op.batch_alter_table('sequence_sends', schema=None) as batch_op:
        batch_op.create_index('ix_sequence_sends_figures', ['sequence_id', 'step_id', 'outcome'], unique=False)
        batch_op.create_index(batch_op.f('ix_sequence_sends_lead_id'), ['lead_id'], unique=False)
        batch_op.create_index('ux_sequence_sends_step', ['enrolment_id', 'step_id'], unique=True)



def downgrade():
    with op.batch_alter_table('sequence_sends', schema=None) as batch_op:
        batch_op.drop_index('ux_sequence_sends_step')
        batch_op.drop_index(batch_op.f('ix_sequence_sends_lead_id'))
        batch_op.drop_index('ix_sequence_sends_figures')

    op.drop_table('sequence_sends')
    with op.batch_alter_table('sequence_enrolments', schema=None) as batch_op:
        batch_op.drop_index('ux_sequence_enrolments_current', sqlite_where=sa.text('ended_at IS NULL'), postgresql_where=sa.text('ended_at IS NULL'))
        batch_op.drop_index('ix_sequence_enrolments_lead')
        batch_op.drop_index('ix_sequence_enrolments_figures')
        batch_op.drop_index('ix_sequence_enrolments_due', sqlite_where=sa.text("status = 'active'"), postgresql_where=sa.text("status = 'active'"))

    op.drop_table('sequence_enrolments')
    with op.batch_alter_table('sequence_steps', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sequence_steps_template_id'))
        batch_op.drop_index('ix_sequence_steps_sequence')

    op.drop_table('sequence_steps')
    with op.batch_alter_table('sequence_rules', schema=None) as batch_op:
        batch_op.drop_index('ux_sequence_rules')
        batch_op.drop_index(batch_op.f('ix_sequence_rules_sequence_id'))

    op.drop_table('sequence_rules')
    with op.batch_alter_table('sequence_bulk_runs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sequence_bulk_runs_sequence_id'))

    op.drop_table('sequence_bulk_runs')
    op.drop_index('ux_sequences_lower_name', table_name='sequences')
    op.drop_table('sequences')
