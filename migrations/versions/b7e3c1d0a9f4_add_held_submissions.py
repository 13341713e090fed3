"""add held_submissions and notifications.capture_form_id

A web-form submission sent faster than the minimum fill time is held for review instead of
dropped, and a notice about it points at its form.

Revision ID: b7e3c1d0a9f4
Revises: 6c525cc47dbc
Create Date: 2026-12-02 14:20:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'b7e3c1d0a9f4'
down_revision = '6c525cc47dbc'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('held_submissions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('form_id', sa.Integer(), nullable=False),
    sa.Column('values', sa.JSON(), nullable=False),
    sa.Column('origin', sa.JSON(), nullable=False),
    sa.Column('reason', sa.String(length=40), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['form_id'], ['capture_forms.id'], name=op.f('fk_held_submissions_form_id_capture_forms'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_held_submissions'))
    )
    with op.batch_alter_table('held_submissions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_held_submissions_form_id'), ['form_id'], unique=False)

    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.add_column(sa.Column('capture_form_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_notifications_capture_form_id'), ['capture_form_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_notifications_capture_form_id_capture_forms'), 'capture_forms',
                                    ['capture_form_id'], ['id'], ondelete='CASCADE')


def downgrade():
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_notifications_capture_form_id_capture_forms'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_notifications_capture_form_id'))
        batch_op.drop_column('capture_form_id')

    with op.batch_alter_table('held_submissions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_held_submissions_form_id'))

    op.drop_table('held_submissions')
