"""event: indexes for the catalogue and the archive with thousands of past events

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03 10:00:00.000000

"""
from alembic import op

# revision identifiers, used by Alembic.
revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade():
    op.create_index(
        'ix_event_status_ends_at', 'event', ['status', 'ends_at', 'is_members_only'], unique=False
    )
    op.create_index('ix_event_starts_at_id', 'event', ['starts_at', 'id'], unique=False)


def downgrade():
    op.drop_index('ix_event_starts_at_id', table_name='event')
    op.drop_index('ix_event_status_ends_at', table_name='event')
