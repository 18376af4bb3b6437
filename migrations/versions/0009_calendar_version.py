"""calendar_version and event.content_updated_at: feeds that change only when what they show changes

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 09:00:00.000000

"""
import uuid
from datetime import UTC, datetime

from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('event', schema=None) as batch_op:
        batch_op.add_column(sa.Column('content_updated_at', sa.DateTime(timezone=True), nullable=True))
    # Until now every change counted, seats included: the last change is the best stamp known.
    op.execute('UPDATE event SET content_updated_at = updated_at')
    with op.batch_alter_table('event', schema=None) as batch_op:
        batch_op.alter_column('content_updated_at', existing_type=sa.DateTime(timezone=True), nullable=False)

    calendar_version = op.create_table('calendar_version',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('token', sa.String(length=32), nullable=False),
    sa.Column('changed_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    # A token no running process has seen, so no feed built before the upgrade is reused.
    now = datetime.now(UTC)
    if op.get_bind().dialect.name == 'sqlite':
        now = now.replace(tzinfo=None)  # stored as naive UTC, like every time on SQLite
    op.bulk_insert(calendar_version, [{'id': 1, 'token': uuid.uuid4().hex, 'changed_at': now}])


def downgrade():
    op.drop_table('calendar_version')
    with op.batch_alter_table('event', schema=None) as batch_op:
        batch_op.drop_column('content_updated_at')
