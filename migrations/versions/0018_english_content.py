"""English content: an event's English summary, body, fee and cancellation reason, a venue's English access notes

Revision ID: 0018
Revises: 0017
Create Date: 2027-01-10 10:00:00.000000

"""
from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None


def upgrade():
    # Empty: the English pages show the Japanese text, marked as Japanese.
    with op.batch_alter_table('event', schema=None) as batch_op:
        batch_op.add_column(sa.Column('summary_en', sa.Text(), server_default='', nullable=False))
        batch_op.add_column(sa.Column('body_en', sa.Text(), server_default='', nullable=False))
        batch_op.add_column(sa.Column('fee_text_en', sa.String(length=200), server_default='', nullable=False))
        batch_op.add_column(sa.Column('cancellation_reason_en', sa.Text(), server_default='', nullable=False))

    with op.batch_alter_table('venue', schema=None) as batch_op:
        batch_op.add_column(sa.Column('access_notes_en', sa.Text(), server_default='', nullable=False))


def downgrade():
    # The English texts are lost.
    with op.batch_alter_table('venue', schema=None) as batch_op:
        batch_op.drop_column('access_notes_en')

    with op.batch_alter_table('event', schema=None) as batch_op:
        batch_op.drop_column('cancellation_reason_en')
        batch_op.drop_column('fee_text_en')
        batch_op.drop_column('body_en')
        batch_op.drop_column('summary_en')
