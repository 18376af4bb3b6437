"""outbox: render_when_sent (a registrant's email rendered when it is sent, not queued)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-10 10:00:00.000000

"""

from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("outbox_message", schema=None) as batch_op:
        batch_op.add_column(sa.Column("render_when_sent", sa.JSON(), nullable=True))


def downgrade():
    with op.batch_alter_table("outbox_message", schema=None) as batch_op:
        batch_op.drop_column("render_when_sent")
