"""event: an index for a category's upcoming events (category pages, the catalogue's category filter)

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-04 10:00:00.000000

"""
from alembic import op

# revision identifiers, used by Alembic.
revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade():
    op.create_index('ix_event_category_ends_at', 'event', ['category_id', 'ends_at'], unique=False)


def downgrade():
    op.drop_index('ix_event_category_ends_at', table_name='event')
