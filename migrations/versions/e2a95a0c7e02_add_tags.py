"""add tags and lead_tags

Free labels on leads. A tag is one row whatever its case (name_key, the case-folded name, is
unique); lead_tags pairs leads with tags, keyed (lead_id, tag_id) for a lead's tags and indexed
(tag_id, lead_id) so the pool filtered by a tag reads an index range. tags.lead_count, kept by the
tag service, orders the tag box's suggestions without counting lead_tags.

Revision ID: e2a95a0c7e02
Revises: c4f2a8e61d07
Create Date: 2026-12-03 06:30:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'e2a95a0c7e02'
down_revision = 'c4f2a8e61d07'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('tags',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=40), nullable=False),
    sa.Column('name_key', sa.String(length=120), nullable=False),
    sa.Column('lead_count', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tags')),
    sa.UniqueConstraint('name_key', name=op.f('uq_tags_name_key'))
    )
    op.create_index('ix_tags_lead_count', 'tags', ['lead_count'], unique=False)
    op.create_table('lead_tags',
    sa.Column('lead_id', sa.Integer(), nullable=False),
    sa.Column('tag_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['lead_id'], ['leads.id'], name=op.f('fk_lead_tags_lead_id_leads'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tag_id'], ['tags.id'], name=op.f('fk_lead_tags_tag_id_tags'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('lead_id', 'tag_id', name=op.f('pk_lead_tags'))
    )
    op.create_index('ix_lead_tags_tag_lead', 'lead_tags', ['tag_id', 'lead_id'], unique=False)


def downgrade():
    op.drop_index('ix_lead_tags_tag_lead', table_name='lead_tags')
    op.drop_table('lead_tags')
    op.drop_index('ix_tags_lead_count', table_name='tags')
    op.drop_table('tags')
